"""Plotly figures for the app, built from plain numbers (pure functions, no gradio).

Long runs produce hundreds of thousands of steps; a browser redrawing that many
points every second would freeze, so every series is cut down to
``MAX_POINTS`` before it becomes a figure (smoothing happens on the full series
first, so it stays faithful).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go

from bertstudio.data.lengths import percent_text
from bertstudio.evaluation.cautions import OVER_CONFIDENT, TOO_FEW, TRUSTED, points_text

MAX_POINTS = 2_000
EMA_WEIGHT = 0.9  # how much the smoothed loss remembers: 0.9 averages roughly the last 10 steps
CHART_HEIGHT = 320
RAW_COLOR = "rgba(99, 110, 250, 0.30)"
MAIN_COLOR = "#4f46e5"
SECOND_COLOR = "#ea580c"
LINE_COLOR = "#dc2626"
# Characters of a title that fit one line of a half-page chart (about 600 px: a laptop's page holds two side by side)
# at its 15 px font.
TITLE_CHARS = 75


# --- series helpers ------------------------------------------------------------------------------


def downsample(xs: Sequence[float], ys: Sequence[float], max_points: int = MAX_POINTS) -> tuple[list, list]:
    """At most ``max_points`` evenly spread points, always keeping the first and the last."""
    n = min(len(xs), len(ys))
    if n <= max_points:
        return list(xs[:n]), list(ys[:n])
    stride = (n - 1) / (max_points - 1)
    picked = sorted({round(i * stride) for i in range(max_points)})
    return [xs[i] for i in picked], [ys[i] for i in picked]


def ema(values: Sequence[float], weight: float = EMA_WEIGHT) -> list[float]:
    """Exponential moving average with bias correction, so the first points are not dragged towards 0.

    Non-finite values (a NaN loss) are skipped: they would poison every later point.
    """
    smoothed, average, seen = [], 0.0, 0
    for value in values:
        if math.isfinite(value):
            seen += 1
            average = weight * average + (1 - weight) * value
        smoothed.append(average / (1 - weight ** seen) if seen else float("nan"))
    return smoothed


def format_percent(share: float) -> str:
    """'100%', '97.5%', '99.9%', '<0.1%': one decimal, and never rounds a near-certainty up to a sure thing."""
    if 0 < share < 0.0005:
        return "<0.1%"
    text = f"{share * 100:.1f}".removesuffix(".0") + "%"
    return "99.9%" if text == "100%" and share < 1 else text


# --- figures --------------------------------------------------------------------------------------


def _layout(fig: go.Figure, title: str, x_title: str, y_title: str, *, height: int = CHART_HEIGHT) -> go.Figure:
    fig.update_layout(title={"text": title, "x": 0.01, "font": {"size": 15}}, template="plotly_white",
                      height=height, margin={"l": 55, "r": 20, "t": 50, "b": 45},
                      legend={"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right", "yanchor": "bottom"},
                      xaxis_title=x_title, yaxis_title=y_title)
    return fig


def empty_chart(title: str, message: str) -> go.Figure:
    """A titled placeholder that says what will appear here and when."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                       font={"size": 14, "color": "#6b7280"})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, title, "", "")


def class_counts_chart(class_counts: Mapping[str, int]) -> go.Figure:
    names, counts = list(class_counts), [int(c) for c in class_counts.values()]
    fig = go.Figure(go.Bar(x=names, y=counts, marker_color=MAIN_COLOR, text=counts, textposition="outside",
                           hovertemplate="%{x}: %{y:,} examples<extra></extra>"))
    fig.update_yaxes(range=[0, max(counts, default=1) * 1.15])
    noun = "class" if len(names) == 1 else "classes"
    return _layout(fig, f"Examples per class ({len(names)} {noun})", "Class", "Examples")


def title_lines(first: str, rest: str, *, limit: int = TITLE_CHARS) -> str:
    """``first`` and ``rest`` on one line when they fit a half-page chart, else ``rest`` on a second line at the same
    size (a smaller second line was hard to read, and lost the sentence's point)."""
    return f"{first} {rest}" if len(first) + 1 + len(rest) <= limit else f"{first}<br>{rest}"


def line_label_side(x: float, x_max: float) -> str:
    """Where a vertical line's label goes: right of the line, unless the line stands in the right third of the axis,
    where the label ran past the plot's edge ("cut at 1" of "cut at 128")."""
    return "top left" if x > x_max * 2 / 3 else "top right"


def token_length_chart(histogram: Mapping[str, Sequence[float]], max_length: int, share: float, *, line: str = "cut at",
                       longer: str = "will be cut") -> go.Figure:
    """Histogram of text lengths in tokens, with the cut-off line and the share of texts longer than it (the
    engine's ``LengthStats.share_longer_than``, which the note under the length box says too).

    ``line`` and ``longer`` say what training does at ``max_length`` ("cut at", "windows of") and to the texts
    beyond it ("will be cut", "keep their first 64 and last 190 tokens"): see ``advice.length_chart_words``."""
    edges, counts = list(histogram.get("bin_edges", [])), list(histogram.get("counts", []))
    centers = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:])]
    widths = [b - a for a, b in zip(edges[:-1], edges[1:])]
    fig = go.Figure(go.Bar(x=centers, y=counts, width=widths, marker_color=MAIN_COLOR,
                           customdata=list(zip(edges[:-1], edges[1:])),
                           hovertemplate="%{customdata[0]:.0f}-%{customdata[1]:.0f} tokens: %{y:,} texts"
                                         "<extra></extra>"))
    x_max = max([max_length, *edges]) * 1.05
    # On a white ground: a label left of the line stands over the bars.
    fig.add_vline(x=max_length, line_color=LINE_COLOR, line_dash="dash", line_width=2,
                  annotation_text=f"{line} {max_length}", annotation_position=line_label_side(max_length, x_max),
                  annotation_font_color=LINE_COLOR, annotation_bgcolor="rgba(255, 255, 255, 0.85)")
    if share == 0:
        title = f"Text lengths in tokens: all texts fit in {max_length} tokens"
    else:
        title = title_lines(f"Text lengths in tokens: {percent_text(share)} of texts are longer than {max_length}",
                            f"and {longer}")
    fig.update_xaxes(range=[0, x_max])
    fig = _layout(fig, title, "Length in tokens", "Texts")
    if "<br>" in title:
        fig.update_layout(margin={"t": 70})
    return fig


def loss_chart(steps: Sequence[int], losses: Sequence[float], *, max_points: int = MAX_POINTS) -> go.Figure:
    """Training loss per step (faint) and its moving average (bold): the trend is what matters."""
    smooth = ema(losses)
    x_raw, y_raw = downsample(steps, losses, max_points)
    x_smooth, y_smooth = downsample(steps, smooth, max_points)
    fig = go.Figure([
        go.Scatter(x=x_raw, y=y_raw, mode="lines", name="each step", line={"color": RAW_COLOR, "width": 1}),
        go.Scatter(x=x_smooth, y=y_smooth, mode="lines", name="smoothed", line={"color": MAIN_COLOR, "width": 2.5}),
    ])
    return _layout(fig, "Training loss (lower is better)", "Step", "Loss")


def validation_chart(steps: Sequence[int], val_loss: Sequence[float], macro_f1: Sequence[float],
                     simple_f1: float | None = None) -> go.Figure:
    """Validation loss (left axis) and macro-F1 (right axis, 0-1) at each evaluation; ``simple_f1`` (the simple
    word-count model's validation macro-F1) is drawn as a dashed line across: the score to beat."""
    fig = go.Figure([
        go.Scatter(x=list(steps), y=list(macro_f1), mode="lines+markers", name="macro-F1 (higher is better)",
                   line={"color": MAIN_COLOR, "width": 2.5}, yaxis="y2"),
        go.Scatter(x=list(steps), y=list(val_loss), mode="lines+markers", name="validation loss",
                   line={"color": SECOND_COLOR, "width": 2}),
    ])
    fig.update_layout(yaxis2={"title": "Macro-F1", "overlaying": "y", "side": "right", "range": [0, 1.02],
                              "showgrid": False, "tickformat": ".0%"})  # a percentage, as every text says it
    if simple_f1 is not None:
        fig.add_hline(y=simple_f1, yref="y2", line={"color": LINE_COLOR, "dash": "dash", "width": 1.5},
                      annotation_text=f"simple model on the validation texts: {simple_f1:.1%}",
                      annotation_position="bottom right")
    if len(set(steps)) == 1:  # one check so far: plotly would tick 19.5 and 20.5 around the only step, 20
        fig.update_xaxes(tickvals=list(steps))
    return _layout(fig, "Validation (texts not trained on)", "Step", "Loss")


def decimal_power(values: Sequence[float]) -> int:
    """The power of ten that brings the largest value between 1 and 10: 2e-5 -> -5; 0 when there is none."""
    biggest = max((abs(v) for v in values if math.isfinite(v)), default=0.0)
    return math.floor(math.log10(biggest)) if biggest > 0 else 0


def learning_rate_chart(steps: Sequence[int], lrs: Sequence[float], *, max_points: int = MAX_POINTS) -> go.Figure:
    """The learning rate in units of a power of ten (named in the axis title). Ticks formatted as ".0e" repeated
    themselves ("2e-5, 2e-5, 1e-5, 1e-5": one digit cannot tell 1.5e-5 from 2e-5); in units of 1e-5 the axis
    reads 0, 0.5, 1, 1.5, 2 and the hover still gives the exact rate."""
    x, y = downsample(steps, lrs, max_points)
    power = decimal_power(y)
    scaled = [v / 10 ** power for v in y]
    fig = go.Figure(go.Scatter(x=x, y=scaled, customdata=y, mode="lines", name="learning rate",
                               line={"color": MAIN_COLOR},
                               hovertemplate="step %{x:,}: learning rate %{customdata:.3g}<extra></extra>"))
    fig.update_yaxes(rangemode="tozero", tickformat="~g")
    unit = f" (x 1e{power})" if power else ""
    return _layout(fig, "Learning rate (warm-up, then a slow decrease)", "Step", f"Learning rate{unit}")


def grad_norm_chart(steps: Sequence[int], norms: Sequence[float], *, max_points: int = MAX_POINTS) -> go.Figure:
    x, y = downsample(steps, norms, max_points)
    fig = go.Figure(go.Scatter(x=x, y=y, mode="lines", name="gradient norm", line={"color": SECOND_COLOR}))
    return _layout(fig, "Gradient size (big spikes mean unstable training)", "Step", "Gradient norm")


def probability_chart(label_names: Sequence[str], probabilities: Sequence[float],
                      thresholds: Sequence[float] | None = None) -> go.Figure:
    """One text's class probabilities as horizontal bars, most likely on top; the predicted class stands out. With
    ``thresholds`` (a model giving several labels per text) each bar gets its label's threshold as a mark, and
    every label that reaches it stands out."""
    rows = sorted(zip([str(n) for n in label_names], [float(p) for p in probabilities],
                      thresholds if thresholds is not None else [None] * len(label_names)), key=lambda r: -r[1])
    names, values = [n for n, _, _ in rows], [v for _, v, _ in rows]
    given = [i == 0 if t is None else v >= t for i, (_, v, t) in enumerate(rows)]
    fig = go.Figure(go.Bar(x=values, y=names, orientation="h", name="probability",
                           marker_color=[MAIN_COLOR if g else RAW_COLOR for g in given],
                           text=[format_percent(v) for v in values], textposition="outside", cliponaxis=False,
                           hovertemplate="%{y}: %{x:.1%}<extra></extra>"))
    fig.update_xaxes(range=[0, 1.12], tickformat=".0%")
    fig.update_yaxes(autorange="reversed")  # plotly draws the first bar at the bottom; the best belongs on top
    height = max(220, 34 * len(names) + 110)
    if thresholds is None:
        title = f"How sure the model is: {names[0]} ({format_percent(values[0])})" if names else "Class probabilities"
        return _layout(fig, title, "Probability", "", height=height)
    fig.add_trace(go.Scatter(x=[t for _, _, t in rows], y=names, mode="markers", name="threshold",
                             marker={"symbol": "line-ns-open", "size": 22, "color": "#111827", "line": {"width": 2}},
                             hovertemplate="%{y} is given from %{x:.0%}<extra></extra>"))
    return _layout(fig, "Each label's probability; a label is given when its bar reaches its mark (threshold)",
                   "Probability", "", height=height)


# --- evaluate tab: calibration ---------------------------------------------------------------------


def filled_bins(reliability: Mapping[str, object]) -> list[Mapping[str, float]]:
    """The bins of a reliability diagram (``ReliabilityDiagram.to_dict()``) that hold at least one row."""
    return [b for b in reliability.get("bins", []) if b.get("count") and b.get("accuracy") is not None]


CONFIDENCE_QUESTION = "Can its confidence be trusted?"
# Said when there is no verdict (an eval.json from before verdicts): how to read the bars, never an answer. "Bars on
# the dashed line: yes" read as the chart's verdict, "yes", above bars far off the line.
HOW_TO_READ_BARS = "Bars on the dashed line: right as often as it says; below it: over-confident"
RELIABILITY_HEIGHT = 400  # a two-line title above and the legend below, with the plot as tall as the others'
# Under the plot, left-aligned: above it the legend ran into the title once the "after calibration" bars joined in.
LEGEND_BELOW = {"orientation": "h", "x": 0, "xanchor": "left", "y": -0.22, "yanchor": "top"}


def confidence_answer(verdict: Mapping[str, object] | None, *, calibrated: bool = False) -> str:
    """The engine's verdict (``cautions.ConfidenceVerdict``, on the probabilities predict gives: after calibration
    when ``calibrated``) in a few words for the chart's title, short enough for a phone's width (the headline's
    sentence says the rest), or how to read the bars when there is none."""
    if not verdict:
        return HOW_TO_READ_BARS
    kind, ece, rows = verdict.get("kind"), float(verdict.get("ece", 0.0)), int(verdict.get("rows", 0))
    if kind == TOO_FEW:
        chance = float(verdict.get("chance_ece", 0.0))
        return f"Too few texts ({rows:,}) to tell: chance alone moves bars {points_text(chance)}"
    if kind == TRUSTED:
        answer = f"yes: off by {points_text(ece)}, within chance"
    else:
        side = "over-confident" if kind == OVER_CONFIDENT else "under-confident"
        answer = f"not fully: {points_text(ece)} {side} on average"
    # Said of the series it judges: beside bars before calibration far off the line, a bare "yes" read as theirs.
    return f"After calibration, {answer}" if calibrated else answer[:1].upper() + answer[1:]


def reliability_chart(before: Mapping[str, object], after: Mapping[str, object] | None = None, *,
                      temperature: float = 1.0, verdict: Mapping[str, object] | None = None) -> go.Figure:
    """How often the model is right (bars) at each level of confidence, against the diagonal of a model
    whose confidence can be taken at its word; ``after`` adds the bars once the temperature is applied. The title
    asks the question and answers it with the engine's ``verdict`` (eval.json's ``confidence_verdict``)."""
    calibrated = after is not None and temperature != 1.0
    series = [("before calibration" if calibrated else "the model (no calibration)", before, MAIN_COLOR)]
    if calibrated:
        series.append((f"after calibration (temperature {temperature:.2f})", after, SECOND_COLOR))
    width = 1 / max(1, len(before.get("bins", []))) / len(series)
    traces: list[go.BaseTraceType] = [go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="perfectly calibrated",
                                                 line={"color": "#9ca3af", "dash": "dash"}, hoverinfo="skip")]
    for i, (name, diagram, color) in enumerate(series):
        bins = filled_bins(diagram)
        # Bars sit at the bin's centre, shifted so the two series stand side by side inside the bin.
        centers = [(b["lower"] + b["upper"]) / 2 + (i - (len(series) - 1) / 2) * width for b in bins]
        traces.append(go.Bar(x=centers, y=[b["accuracy"] for b in bins], width=width * 0.9, name=name,
                             marker_color=color, opacity=0.85,
                             customdata=[(b["confidence"], b["count"]) for b in bins],
                             hovertemplate="said %{customdata[0]:.0%} sure, right %{y:.0%} of the time "
                                           "(%{customdata[1]:,} texts)<extra></extra>"))
    fig = go.Figure(traces)
    fig.update_xaxes(range=[0, 1], tickformat=".0%")
    fig.update_yaxes(range=[0, 1.05], tickformat=".0%")
    title = f"<b>{CONFIDENCE_QUESTION}</b><br>{confidence_answer(verdict, calibrated=calibrated)}"
    fig = _layout(fig, title, "How sure the model said it was", "How often it was right", height=RELIABILITY_HEIGHT)
    fig.update_layout(legend=LEGEND_BELOW, margin={"t": 70})
    return fig

"""The benchmark's chart: median latency per model, one bar per backend, one group per (model, size).

A pure builder (records in, plotly figure out) so the app and tests share it.
"""

from __future__ import annotations

from collections.abc import Sequence

from bertstudio.benchmark.backends import BACKEND_LABELS
from bertstudio.benchmark.records import BenchRecord
from bertstudio.benchmark.report import model_label

BACKEND_COLORS = {"torch-fp32": "#6b7280", "torch-bf16": "#4f46e5", "onnx": "#0d9488", "onnx-int8": "#ea580c"}
CHART_HEIGHT = 380


def group_label(record: BenchRecord, *, with_model: bool = True, with_size: bool = True) -> str:
    parts = [model_label(record)] if with_model else []
    if with_size:
        parts.append(f"batch {record.batch_size} × {record.seq_len}")
    return "<br>".join(parts)


def latency_chart(records: Sequence[BenchRecord], *, metric: str = "p50_ms", title: str | None = None):
    """Grouped bars: x = model (and size, when several were measured), colour = backend, y = latency in ms.

    Hovering a bar shows p95, throughput and the note of random-weight models.
    """
    import plotly.graph_objects as go

    fig = go.Figure()
    if not records:
        fig.add_annotation(text="Run the benchmark; the chart appears here.", showarrow=False, x=0.5, y=0.5,
                           xref="paper", yref="paper", font={"size": 14, "color": "#6b7280"})
        fig.update_xaxes(visible=False)
        fig.update_yaxes(visible=False)
    several_models = len({r.model for r in records}) > 1
    several_sizes = len({(r.batch_size, r.seq_len) for r in records}) > 1
    groups = list(dict.fromkeys(group_label(r, with_model=several_models or not several_sizes,
                                            with_size=several_sizes) for r in records))
    for backend in dict.fromkeys(r.backend for r in records):
        rows = [r for r in records if r.backend == backend]
        fig.add_trace(go.Bar(
            name=BACKEND_LABELS.get(backend, backend),
            x=[group_label(r, with_model=several_models or not several_sizes, with_size=several_sizes) for r in rows],
            y=[getattr(r, metric) for r in rows], marker_color=BACKEND_COLORS.get(backend),
            customdata=[[r.p95_ms, r.throughput, r.note or ""] for r in rows],
            hovertemplate="%{y:.1f} ms (p95 %{customdata[0]:.1f} ms), %{customdata[1]:,.0f} texts/s"
                          "<br>%{customdata[2]}<extra>%{fullData.name}</extra>"))
    fig.update_layout(barmode="group", template="plotly_white", height=CHART_HEIGHT,
                      title={"text": title or "Median latency per batch (lower is faster)", "x": 0.01,
                             "font": {"size": 15}},
                      margin={"l": 55, "r": 20, "t": 50, "b": 60}, yaxis_title="Milliseconds per batch",
                      legend={"orientation": "h", "y": 1.02, "x": 1, "xanchor": "right", "yanchor": "bottom"})
    fig.update_xaxes(categoryorder="array", categoryarray=groups)
    return fig

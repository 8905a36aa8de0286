"""The app's plotly figure builders: pure functions of numbers."""

from __future__ import annotations

import math

import pytest

from bertstudio.ui.views import charts

HISTOGRAM = {"bin_edges": [0.0, 10.0, 20.0, 30.0, 40.0], "counts": [10, 20, 30, 40]}


def test_downsample_keeps_short_series_and_cuts_long_ones_to_the_limit():
    xs, ys = list(range(100)), [float(i) for i in range(100)]
    assert charts.downsample(xs, ys, max_points=200) == (xs, ys)

    long_x, long_y = list(range(10_001)), [float(i) * 2 for i in range(10_001)]
    dx, dy = charts.downsample(long_x, long_y, max_points=2_000)
    assert len(dx) == len(dy) == 2_000
    assert dx[0] == 0 and dx[-1] == 10_000  # first and last survive
    assert dx == sorted(dx) and dy == [x * 2 for x in dx]  # points stay paired and in order


def test_ema_is_bias_corrected_and_skips_nan():
    assert charts.ema([2.0, 2.0, 2.0]) == pytest.approx([2.0, 2.0, 2.0])  # no drag towards 0 at the start
    smoothed = charts.ema([1.0, float("nan"), 3.0], weight=0.5)
    assert smoothed[0] == pytest.approx(1.0)
    assert smoothed[1] == pytest.approx(1.0)  # the NaN is skipped, not propagated
    assert smoothed[2] == pytest.approx((0.5 * 0.5 * 1 + 0.5 * 3) / (1 - 0.25))
    assert math.isnan(charts.ema([float("nan")])[0])


def test_class_counts_chart_shows_every_class_with_its_count():
    fig = charts.class_counts_chart({"spam": 30, "ham": 70})
    bar = fig.data[0]
    assert list(bar.x) == ["spam", "ham"] and list(bar.y) == [30, 70]
    assert "2 classes" in fig.layout.title.text


def test_token_length_chart_marks_the_cut_and_says_how_much_is_cut():
    fig = charts.token_length_chart(HISTOGRAM, 25, 0.55)
    line = fig.layout.shapes[0]
    assert line.x0 == line.x1 == 25
    assert "55% of texts are longer than 25" in fig.layout.title.text
    assert list(fig.data[0].y) == HISTOGRAM["counts"]
    everything_fits = charts.token_length_chart(HISTOGRAM, 64, 0.0)
    assert "all texts fit in 64 tokens" in everything_fits.layout.title.text
    assert everything_fits.layout.xaxis.range[1] >= 64  # the line stays in view
    kept = charts.token_length_chart(HISTOGRAM, 25, 0.55, line="windows of", longer="are read in windows")
    assert kept.layout.annotations[0].text == "windows of 25"
    assert kept.layout.title.text.endswith("<br>and are read in windows")


def test_token_length_chart_says_what_happens_to_long_texts_at_full_size():
    """'...and will be cut' dropped to a tiny second line: the sentence is one line when it fits a half-page chart,
    else two of the same size."""
    cut = charts.token_length_chart(HISTOGRAM, 25, 0.55)
    assert cut.layout.title.text == "Text lengths in tokens: 55% of texts are longer than 25 and will be cut"
    assert "font-size" not in cut.layout.title.text and len(cut.layout.title.text) <= charts.TITLE_CHARS
    kept = charts.token_length_chart(HISTOGRAM, 25, 0.55, longer="keep the first 64 and last 190 tokens")
    assert kept.layout.title.text == ("Text lengths in tokens: 55% of texts are longer than 25<br>and keep the first 64 "
                                      "and last 190 tokens")
    assert "font-size" not in kept.layout.title.text


def test_the_cut_line_label_stays_inside_the_chart():
    """'cut at 128' ran past the right edge when the line stood near it (texts up to ~130 tokens, or all of them
    shorter than the cut): its label goes left of the line there."""
    near_edge = charts.token_length_chart(HISTOGRAM, 36, 0.1)  # the longest texts end at 40
    assert near_edge.layout.annotations[0].xanchor == "right"  # plotly's "top left": text ends at the line
    past_all = charts.token_length_chart(HISTOGRAM, 64, 0.0)
    assert past_all.layout.annotations[0].xanchor == "right"
    middle = charts.token_length_chart(HISTOGRAM, 25, 0.55)
    assert middle.layout.annotations[0].xanchor == "left"


def test_loss_chart_has_raw_and_smoothed_lines_and_stays_small():
    steps = list(range(1, 50_001))
    losses = [1.0 / s for s in steps]
    fig = charts.loss_chart(steps, losses)
    raw, smooth = fig.data
    assert raw.name == "each step" and smooth.name == "smoothed"
    assert len(raw.x) == len(smooth.x) == charts.MAX_POINTS
    assert raw.x[-1] == 50_000
    assert smooth.y[-1] > raw.y[-1]  # the average still remembers the higher earlier losses


def test_validation_chart_puts_macro_f1_on_its_own_0_to_1_axis():
    fig = charts.validation_chart([10, 20], [0.9, 0.5], [0.4, 0.8])
    f1 = next(t for t in fig.data if "macro-F1" in t.name)
    loss = next(t for t in fig.data if t.name == "validation loss")
    assert f1.yaxis == "y2" and list(f1.y) == [0.4, 0.8]
    assert list(loss.y) == [0.9, 0.5]
    assert tuple(fig.layout.yaxis2.range) == (0, 1.02)
    assert fig.layout.xaxis.tickvals is None  # plotly's own ticks for a series
    assert list(charts.validation_chart([20], [0.9], [0.4]).layout.xaxis.tickvals) == [20]  # not 19.5 and 20.5


def test_learning_rate_and_gradient_charts_plot_their_series():
    lr = charts.learning_rate_chart([1, 2, 3], [1e-5, 2e-5, 1e-5])
    grad = charts.grad_norm_chart([1, 2, 3], [0.5, 3.0, 1.0])
    assert list(lr.data[0].customdata) == [1e-5, 2e-5, 1e-5]  # the exact rates, for the hover
    assert list(grad.data[0].y) == [0.5, 3.0, 1.0]
    assert "Learning rate" in lr.layout.title.text and "Gradient" in grad.layout.title.text


def test_empty_chart_says_what_will_appear():
    fig = charts.empty_chart("Training loss", "Appears when training starts")
    assert fig.layout.title.text == "Training loss"
    assert fig.layout.annotations[0].text == "Appears when training starts"


def test_validation_chart_draws_the_simple_models_score_as_the_line_to_beat():
    fig = charts.validation_chart([10, 20], [0.9, 0.7], [0.6, 0.8], simple_f1=0.74)
    line = [shape for shape in fig.layout.shapes if shape.yref == "y2"]
    assert len(line) == 1 and line[0].y0 == line[0].y1 == 0.74
    assert "simple model on the validation texts: 74.0%" in fig.layout.annotations[0].text
    assert not charts.validation_chart([10], [0.9], [0.6]).layout.shapes


def test_learning_rate_axis_is_in_units_that_give_distinct_readable_ticks():
    lrs = [0.0, 1e-5, 1.5e-5, 2e-5, 1.75e-5, 1.25e-5, 5e-6]
    fig = charts.learning_rate_chart(list(range(len(lrs))), lrs)
    assert list(fig.data[0].y) == pytest.approx([0.0, 1.0, 1.5, 2.0, 1.75, 1.25, 0.5])
    assert fig.layout.yaxis.title.text == "Learning rate (x 1e-5)"
    assert fig.layout.yaxis.tickformat != ".0e"  # one significant digit printed 1.5e-5 as "2e-5"
    assert "%{customdata:.3g}" in fig.data[0].hovertemplate


@pytest.mark.parametrize(("values", "power"), [([2e-5, 1e-5], -5), ([3e-4], -4), ([0.0, 0.0], 0), ([], 0),
                                              ([float("nan"), 5e-3], -3), ([1.0], 0)])
def test_decimal_power_brings_the_largest_value_between_1_and_10(values, power):
    assert charts.decimal_power(values) == power

"""Long texts, decided for the person: what to keep of texts longer than the maximum length (``auto``), and, with
windows, how a text's windows are combined (chosen on validation).

The rule (pure, from the token-length percentiles and this hardware):

* fewer than ``LONG_SHARE`` of the texts are cut: ``head``, exactly as before (no reason shown, nothing changes
  for short-text data: same settings, same plan, same speed);
* text pairs: ``head`` (the tokenizer trims the longer text; windows would separate the two texts);
* on a CPU, when the data asks for more than ``CPU_LONG_MAX_LENGTH`` tokens and many texts are longer than that,
  the maximum length is lowered to it: self-attention makes 512 tokens cost more than twice 256 per text, and
  keeping the start and the end recovers most of what the middle adds (Sun et al. 2019);
* then ``windows`` when reading the texts in windows would cost at most ``WINDOW_BUDGET`` times cutting (a few long
  texts, or a GPU), else ``head_tail``, which costs no extra time.

With windows (chosen here or by the person), texts longer than ``max_windows`` windows read whole are read only in
part: the plan says how many and what to change (:func:`windows_reach`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bertstudio.config import TrainConfig, check_long_text_settings
from bertstudio.data.long_texts import (
    SPECIAL_TOKENS,
    LongTexts,
    examples_per_text,
    labels_per_text,
    per_text,
    share_longer,
    text_rows_of,
    uncovered_note,
    windows_for,
)

LONG_SHARE = 0.10  # below this share of cut texts, the plain cut is kept: the rest changes too few texts to matter
CPU_LONG_MAX_LENGTH = 256
# How many times the time of cutting the texts reading all of them may cost: on a CPU a run is hours, not minutes.
WINDOW_BUDGET = {"cpu": 1.5, "mps": 1.5, "cuda": 3.0}


@dataclass(frozen=True)
class LongTextChoice:
    """One automatic value; ``reason`` is None where nothing changes from the plain cut (no reason is shown)."""

    field: str
    value: Any
    reason: str | None


def token_cost(grid: Sequence[int], max_length: int, hidden: int, ffn: int, windows: LongTexts | None = None) -> float:
    """Relative compute of reading the texts cut at ``max_length`` (or in ``windows``): per token, each layer's
    matrix products (8h^2 + 4h*ffn) plus attention over the sequence (4*seq*h)."""
    total = 0.0
    for length in grid[1:]:
        seq = min(length, max_length)
        count = windows_for(length, windows) if windows is not None else 1
        total += count * seq * (8 * hidden * hidden + 4 * hidden * ffn + 4 * seq * hidden)
    return total


def choose_long_texts(config: TrainConfig, grid: Sequence[int], *, is_pair: bool, device: str, hidden: int,
                      ffn: int, max_length_auto: bool, texts: int) -> list[LongTextChoice]:
    """The automatic values of ``long_texts`` (and the maximum length on a CPU), with their reasons; with windows,
    what they leave unread of the longest of the ``texts`` training texts."""
    max_length = int(config.max_length)
    if config.long_texts != "auto":
        check_long_text_settings(config.long_texts, max_length, config.head_tokens, config.window_stride,
                                 is_pair=is_pair)
        return [reach for reach in [windows_reach(config, grid, texts)] if reach is not None]
    share = share_longer(grid, max_length)
    if share < LONG_SHARE:
        return [LongTextChoice("long_texts", "head", None)]
    if is_pair:
        return [LongTextChoice("long_texts", "head", f"{share:.0%} of your text pairs are longer than {max_length} "
                                                     "tokens: the longer text of each pair is trimmed (cutting pairs "
                                                     "in pieces would separate one text from the other).")]
    choices = []
    if device == "cpu" and max_length_auto and max_length > CPU_LONG_MAX_LENGTH \
            and share_longer(grid, CPU_LONG_MAX_LENGTH) >= LONG_SHARE:
        slower = token_cost(grid, max_length, hidden, ffn) / token_cost(grid, CPU_LONG_MAX_LENGTH, hidden, ffn)
        choices.append(LongTextChoice("max_length", CPU_LONG_MAX_LENGTH, (
            f"95% of your texts are at most {grid[95]} tokens long, but on this CPU reading {max_length} tokens of "
            f"each would take about {slower:.1f}x as long as {CPU_LONG_MAX_LENGTH}: texts are cut at "
            f"{CPU_LONG_MAX_LENGTH} tokens, keeping what matters most of the longer ones (see long texts).")))
        max_length = CPU_LONG_MAX_LENGTH
        share = share_longer(grid, max_length)
    choices.append(_strategy(config, grid, share, max_length, device, hidden, ffn))
    reach = windows_reach(config.model_copy(update={"max_length": max_length, "long_texts": choices[-1].value}),
                          grid, texts)
    return choices + ([reach] if reach is not None else [])


def windows_reach(config: TrainConfig, grid: Sequence[int], texts: int) -> LongTextChoice | None:
    """With windows: how many texts are longer than the windows read whole, and what to change to read more of
    them (a note beside ``max_windows``); None for another strategy, or when every text is read whole."""
    kept = LongTexts.of(config)
    if kept.strategy != "windows" or len(grid) < 2:
        return None
    # The percentile grid counts in whole percents: the count is an estimate ("about").
    note = uncovered_note(kept, share_longer(grid, kept.covered_length()), texts, int(grid[-1]), sampled=True)
    return LongTextChoice("max_windows", kept.max_windows, note) if note else None


def _strategy(config: TrainConfig, grid: Sequence[int], share: float, max_length: int, device: str, hidden: int,
              ffn: int) -> LongTextChoice:
    windows = LongTexts("windows", max_length, stride=config.window_stride, max_windows=config.max_windows)
    slower = token_cost(grid, max_length, hidden, ffn, windows) / token_cost(grid, max_length, hidden, ffn)
    where = "this GPU" if device == "cuda" else f"this {device.upper()}"
    longer = f"{share:.0%} of your texts are longer than {max_length} tokens"
    if slower <= WINDOW_BUDGET.get(device, WINDOW_BUDGET["cpu"]):
        whole = " No part of any text is lost." if grid[-1] <= windows.covered_length() else ""
        return LongTextChoice("long_texts", "windows", (
            f"{longer}: each is read in up to {windows.max_windows} overlapping windows whose scores are combined "
            f"(texts of up to {windows.covered_length():,} tokens whole); that takes about {slower:.1f}x the time "
            f"of cutting them, which {where} affords.{whole}"))
    kept = LongTexts("head_tail", max_length, head_tokens=config.head_tokens)
    head = kept.head_count(kept.room(SPECIAL_TOKENS))
    tail = kept.room(SPECIAL_TOKENS) - head
    return LongTextChoice("long_texts", "head_tail", (
        f"{longer}; keeping the first {head} and last {tail} tokens of each (the opening and the conclusion, "
        f"best for long reviews in Sun et al. 2019) costs no extra time, where reading all of each in windows "
        f"would take about {slower:.1f}x as long on {where}."))


def training_examples(train_rows: int, grid: Sequence[int], config: TrainConfig) -> int:
    """How many examples the loop trains on per epoch: the texts, or their windows."""
    return math.ceil(train_rows * examples_per_text(grid, LongTexts.of(config)))


# --------------------------------------------------------------------------- windows at evaluation time


def window_aggregation(config: TrainConfig) -> str:
    """How windows are combined while training runs (validation checks): the setting, or mean until chosen."""
    return config.window_aggregation if config.window_aggregation != "auto" else "mean"


def choose_aggregation(config: TrainConfig, window_logits: np.ndarray, dataset,
                       score: Callable[[np.ndarray, np.ndarray], float]) -> LongTextChoice | None:
    """Mean or max of the windows' logits, whichever ``score(labels, logits)`` rates higher on validation
    (mean on a tie: it uses every window).  None when there is nothing to choose."""
    if config.long_texts != "windows" or config.window_aggregation != "auto" or text_rows_of(dataset) is None:
        return None
    labels = labels_per_text(dataset)
    rows = text_rows_of(dataset)
    scores = {how: score(labels, per_text(window_logits, rows, how)) for how in ("mean", "max")}
    best = "max" if scores["max"] > scores["mean"] else "mean"
    return LongTextChoice("window_aggregation", best, (
        f"Combining a text's windows by their {best} scored best on validation (mean {scores['mean']:.3f}, "
        f"max {scores['max']:.3f})."))


def long_text_fields(config: TrainConfig) -> dict[str, Any]:
    """What ``preprocessing.json`` records so prediction, serving and every export cut texts as training did."""
    kept = LongTexts.of(config)
    if kept.plain_cut:
        return {}  # exactly the file earlier versions wrote: the head cut is the default when reading it
    return {"long_texts": kept.strategy, "head_tokens": kept.head_tokens, "window_stride": kept.stride,
            "window_aggregation": kept.aggregation, "max_windows": kept.max_windows}

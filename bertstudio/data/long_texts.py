"""What is kept of a text longer than the maximum length: the one place training, evaluation and prediction cut.

Four choices (``TrainConfig.long_texts``, recorded in ``preprocessing.json`` so every backend repeats them):

* ``head``: the first tokens (the tokenizer's own truncation; what every run did before this module existed, and
  still the path such runs take, so they predict exactly as before);
* ``tail``: the last tokens (reviews and reports often end with their verdict);
* ``head_tail``: the first N and the last M tokens.  Sun et al. 2019 ("How to fine-tune BERT for text
  classification") kept 128 + 382 of 512 and found it best on IMDb; the default keeps the same share
  (128/510 of the room) at any maximum length;
* ``windows``: the text in overlapping windows ``stride`` tokens apart; each window is a training example
  with its text's label, and a text's logits are the mean or the max of its windows' logits (chosen on
  validation).  At most ``max_windows`` per text, so one huge text cannot take the time of hundreds: a text
  longer than those windows cover (:meth:`LongTexts.covered_length`) gets that many spread evenly from its start
  to its end, and the stretches between them are skipped (8 windows of 64 tokens read about 5% of a text of
  10,000 tokens).  Every message says so (:meth:`LongTexts.kept`), never that windows read all of a text.

Text pairs keep ``head`` (the tokenizer trims the longer text of the pair): cutting a pair into windows would
separate one text from the part of the other it is compared with.

Token selection works on the text's tokens without special tokens, then wraps each piece in the tokenizer's own
special tokens ([CLS] ... [SEP] for BERT), so a text that fits is encoded exactly as the tokenizer would.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Sequence

import numpy as np

from bertstudio.config import HEAD_SHARE, MAX_LENGTH, MOST_WINDOWS
from bertstudio.data.arrow_batches import column_array
from bertstudio.data.findings import count_noun
from bertstudio.data.lengths import _quiet_transformers, percent_text

STRATEGIES: tuple[str, ...] = ("head", "tail", "head_tail", "windows")
SPECIAL_TOKENS = 2  # [CLS] and [SEP]: what every BERT-family model in the registry adds to one text
AGGREGATIONS: tuple[str, ...] = ("mean", "max")
DEFAULT_MAX_WINDOWS = 8


@dataclass(frozen=True)
class LongTexts:
    """How texts longer than ``max_length`` are cut, resolved (never "auto")."""

    strategy: str = "head"
    max_length: int = 512
    head_tokens: int | None = None  # head_tail: tokens from the start (None: the Sun et al. share)
    stride: int | None = None  # windows: tokens from one window's start to the next (None: half a window)
    max_windows: int = DEFAULT_MAX_WINDOWS
    aggregation: str = "mean"

    @classmethod
    def of(cls, settings: Any) -> "LongTexts":
        """From a TrainConfig or a Preprocessing (the fields have the same names in both)."""
        strategy = getattr(settings, "long_texts", "head")
        aggregation = getattr(settings, "window_aggregation", "mean")
        return cls(strategy=strategy if strategy in STRATEGIES else "head", max_length=int(settings.max_length),
                   head_tokens=getattr(settings, "head_tokens", None), stride=getattr(settings, "window_stride", None),
                   max_windows=getattr(settings, "max_windows", None) or DEFAULT_MAX_WINDOWS,
                   aggregation=aggregation if aggregation in AGGREGATIONS else "mean")

    @property
    def plain_cut(self) -> bool:
        """Cut by the tokenizer itself, as every run before long-text choices."""
        return self.strategy == "head"

    def room(self, special: int = 2) -> int:
        """Tokens of the text that fit beside the ``special`` tokens."""
        return max(1, self.max_length - special)

    def head_count(self, room: int) -> int:
        return min(room, self.head_tokens if self.head_tokens is not None else round(room * HEAD_SHARE))

    def step(self, room: int) -> int:
        return min(room, self.stride or max(1, room // 2))

    def covered_length(self) -> int:
        """windows: the longest text (in tokens, special ones included, as ``max_length`` counts them) read whole.
        Past ``max_windows`` windows ``step`` apart the windows are spread evenly (:func:`window_starts`), so they
        still touch until the text is ``max_windows`` windows long: the stride does not change this."""
        return self.most_read() + SPECIAL_TOKENS

    def most_read(self) -> int:
        """windows: the tokens read of a longer text than :meth:`covered_length` (windows with gaps between)."""
        return self.max_windows * self.room()

    def kept(self) -> str:
        """What is kept of a text longer than ``max_length``: "the first 64 and last 190 tokens", "up to 8
        overlapping windows ..." (what every text telling a person about long texts says: never "the beginning"
        for a strategy that keeps something else, nor "every token" for windows that stop at ``max_windows``)."""
        if self.strategy == "windows":
            return f"{self._windows_part()}: {self._windows_reach()}"
        return f"the {self._cut_part()}"

    def _windows_part(self) -> str:
        return (f"up to {self.max_windows} overlapping windows of {self.max_length} tokens, {self.step(self.room())} "
                "tokens apart")

    def _windows_reach(self) -> str:
        """How much of a text the windows read: "texts of up to 281 tokens whole, longer ones only in part ..."."""
        return (f"texts of up to {self.covered_length():,} tokens whole, longer ones only in part "
                f"({self.max_windows} windows spread from start to end, {self.most_read():,} of their tokens)")

    def _cut_part(self) -> str:
        """The tokens a cut keeps: "first 254 tokens", "last 254 tokens", "first 64 and last 190 tokens"."""
        room = self.room()
        if self.strategy == "tail":
            return f"last {room} tokens"
        if self.strategy == "head_tail":
            head = self.head_count(room)
            return f"first {head} and last {room - head} tokens"
        return f"first {room} tokens"

    def describe(self) -> str:
        """One phrase for the predictor, the model card and the plan: "texts cut at 256 tokens", ..."""
        if self.strategy in ("tail", "head_tail"):
            return f"long texts keep their {self._cut_part()}"
        if self.strategy == "windows":
            return (f"long texts are read in {self._windows_part()}, their scores {self.aggregation}-aggregated: "
                    f"{self._windows_reach()}")
        return f"texts cut at {self.max_length} tokens"

    def send_hint(self) -> str:
        """What to send of a text too long to accept (the server's limit), for what this strategy reads of it."""
        if self.strategy == "windows":
            return (f"It is read in at most {self.max_windows} windows of {self.max_length} tokens "
                    f"({self.covered_length():,} tokens whole): split it into several texts, or send the part "
                    "that matters.")
        part = {"tail": "end", "head_tail": "start and the end"}.get(self.strategy, "start")
        return f"Only the {self._cut_part()} are read: send the {part} of the text."


# --------------------------------------------------------------------------- what a setting does to measured texts


def share_longer(grid: Sequence[int], max_length: int) -> float:
    """Share of texts longer than ``max_length`` tokens, from the lengths at percentiles 0..100."""
    return float(np.mean(np.asarray(grid[1:]) > max_length)) if len(grid) > 1 else 0.0


def windows_for(length: int, settings: LongTexts) -> int:
    """Windows a text of ``length`` tokens (special tokens included) is read in."""
    room = settings.room(SPECIAL_TOKENS)
    return len(window_starts(max(0, length - SPECIAL_TOKENS), room, settings.step(room), settings.max_windows))


def uncovered_note(windows: LongTexts, share: float, texts: int, longest: int, *, sampled: bool = False) -> str:
    """What the plan and ``inspect`` say when texts are longer than ``windows`` read whole (``share`` of ``texts``,
    the longest ``longest`` tokens): how many, how little of each is read, and how to read more; "" when none is."""
    covered = windows.covered_length()
    if share <= 0 or longest <= covered:
        return ""
    count = max(1, round(share * texts))
    they = "it is" if count == 1 else "each is"
    return (f"{'About ' if sampled else ''}{count_noun(count, 'text')} of {texts:,} ({percent_text(share)}) "
            f"{'is' if count == 1 else 'are'} longer than the {covered:,} tokens {windows.max_windows} windows of "
            f"{windows.max_length} tokens read whole (the longest: {longest:,} tokens): {they} read only in part, "
            f"{windows.most_read():,} of its tokens in {windows.max_windows} windows spread from start to end, the "
            f"stretches between them skipped. {_reading_more(windows, longest)}")


def _reading_more(windows: LongTexts, longest: int) -> str:
    """How to read more of texts longer than ``windows`` read whole: more windows, longer ones, or both."""
    room = windows.room()
    more = min(MOST_WINDOWS, math.ceil((longest - SPECIAL_TOKENS) / room))
    longer = min(MAX_LENGTH, math.ceil((longest - SPECIAL_TOKENS) / windows.max_windows) + SPECIAL_TOKENS)
    ways = []
    if more > windows.max_windows:
        ways.append(f"--max-windows {more} (up to {replace(windows, max_windows=more).covered_length():,} tokens "
                    "whole)")
    if longer > windows.max_length:
        ways.append(f"--max-length {longer} (longer windows: up to "
                    f"{replace(windows, max_length=longer).covered_length():,} tokens whole)")
    if not ways:
        return "Split such documents into several rows to read more of them."
    return f"To read more of them, use {' or '.join(ways)}; each window costs about the time of one text."


def examples_per_text(grid: Sequence[int], settings: LongTexts) -> float:
    """Training examples per text on average: 1, or the mean number of windows."""
    if settings.strategy != "windows" or len(grid) < 2:
        return 1.0
    return float(np.mean([windows_for(length, settings) for length in grid[1:]]))


@dataclass(frozen=True)
class LongTextOutlook:
    """What a long-text setting would do to the measured texts (``bertstudio inspect --long-texts ...``).

    ``strategy`` may be "auto": training then decides from these lengths and the computer, so both the cut and
    the windows are described."""

    strategy: str
    max_length: int
    texts: int  # texts measured
    sampled: bool  # measured on a sample: the counts are estimates
    cut_share: float  # texts longer than max_length
    windows: LongTexts  # the windows these settings would read (whatever the strategy)
    windows_per_text: float
    most_windows: int  # the longest text's windows (at most max_windows)
    kept: str  # what is kept of a long text, in words ("" for auto)
    uncovered_share: float = 0.0  # texts longer than the windows read whole (LongTexts.covered_length)
    longest: int = 0  # the longest text's tokens

    @property
    def cut_texts(self) -> int:
        return round(self.cut_share * self.texts)

    def to_text(self) -> str:
        about = "about " if self.sampled else ""
        lines = [f"Long texts at a maximum length of {self.max_length} tokens: {about}{self.cut_texts:,} of "
                 f"{self.texts:,} texts ({percent_text(self.cut_share)}) are longer."]
        if self.cut_texts == 0:
            return lines[0] + " Nothing is cut."
        if self.strategy != "windows":
            lines.append(f"  {self.strategy}: {self.kept}." if self.kept else
                         "  auto: training chooses what to keep from these lengths and this computer (its plan "
                         "says which, and why).")
        if self.strategy in ("windows", "auto"):
            room = self.windows.room(SPECIAL_TOKENS)
            lines.append(f"  In windows (of {self.max_length} tokens, {self.windows.step(room)} apart, at most "
                         f"{self.windows.max_windows} per text): {self.windows_per_text:.1f} windows per text on "
                         f"average, up to {self.most_windows} for the longest; each window is a training example, "
                         f"so an epoch takes about {self.windows_per_text:.1f}x the steps.")
            uncovered = uncovered_note(self.windows, self.uncovered_share, self.texts, self.longest,
                                       sampled=self.sampled)
            lines += [f"  {uncovered}"] if uncovered else []
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "max_length": self.max_length, "texts": self.texts,
                "sampled": self.sampled, "cut_share": self.cut_share, "cut_texts": self.cut_texts,
                "windows_per_text": self.windows_per_text, "most_windows": self.most_windows,
                "window_stride": self.windows.step(self.windows.room(SPECIAL_TOKENS)),
                "max_windows": self.windows.max_windows, "kept": self.kept,
                "read_whole_up_to": self.windows.covered_length(), "uncovered_share": self.uncovered_share}


def long_text_outlook(lengths: Any, settings: Any) -> LongTextOutlook:
    """What ``settings`` (a TrainConfig: long_texts, max_length or None for the data's suggestion, head_tokens,
    window_stride, max_windows) would do to texts measured as ``lengths`` (a LengthStats)."""
    max_length = int(settings.max_length or lengths.suggested_max_length)
    grid = lengths.percentile_grid
    chosen = LongTexts.of(settings.model_copy(update={"max_length": max_length}))
    windows = LongTexts("windows", max_length, stride=chosen.stride, max_windows=chosen.max_windows)
    strategy = settings.long_texts
    return LongTextOutlook(
        strategy=strategy, max_length=max_length, texts=lengths.n, sampled=lengths.sampled,
        cut_share=lengths.share_longer_than(max_length), windows=windows,
        windows_per_text=examples_per_text(grid, windows), most_windows=windows_for(lengths.max, windows),
        kept="" if strategy == "auto" else chosen.describe(),
        uncovered_share=lengths.share_longer_than(windows.covered_length()), longest=lengths.max)


# --------------------------------------------------------------------------- token selection


def window_starts(n_tokens: int, room: int, step: int, max_windows: int) -> list[int]:
    """Where each window starts: every ``step`` tokens, the last one ending at the text's end; over
    ``max_windows``, that many spread evenly from the start to the end."""
    if n_tokens <= room:
        return [0]
    last = n_tokens - room
    starts = list(range(0, last, step)) + [last]
    if len(starts) <= max_windows:
        return starts
    if max_windows == 1:
        return [0]
    return sorted({round(i * last / (max_windows - 1)) for i in range(max_windows)})


def select_tokens(ids: Sequence[int], settings: LongTexts, room: int) -> list[list[int]]:
    """The pieces of one text's tokens (no special tokens) to encode: one piece, or one per window."""
    ids = list(ids)
    if len(ids) <= room:
        return [ids]
    if settings.strategy == "tail":
        return [ids[len(ids) - room:]]
    if settings.strategy == "head_tail":
        head = settings.head_count(room)
        return [ids[:head] + ids[len(ids) - (room - head):]]
    if settings.strategy == "windows":
        return [ids[start:start + room]
                for start in window_starts(len(ids), room, settings.step(room), settings.max_windows)]
    return [ids[:room]]


@dataclass(frozen=True)
class SpecialTokens:
    """The tokenizer's special tokens around one text: [CLS] before and [SEP] after for BERT."""

    prefix: list[int]
    suffix: list[int]
    token_types: bool  # the model takes token_type_ids

    @classmethod
    def of(cls, tokenizer) -> "SpecialTokens":
        probe = "a"
        wrapped = tokenizer(probe, add_special_tokens=True)["input_ids"]
        plain = tokenizer(probe, add_special_tokens=False)["input_ids"]
        at = next(i for i in range(len(wrapped) - len(plain) + 1) if wrapped[i:i + len(plain)] == plain)
        return cls(list(wrapped[:at]), list(wrapped[at + len(plain):]),
                   "token_type_ids" in getattr(tokenizer, "model_input_names", ()))

    @property
    def count(self) -> int:
        return len(self.prefix) + len(self.suffix)


def encode_long_texts(tokenizer, texts: Sequence[str], settings: LongTexts) -> dict[str, list]:
    """Token ids (no padding) of every kept piece, with ``text_row``: the index of the text each piece is from.

    One piece per text except with windows; ``input_ids``/``token_type_ids``/``attention_mask`` as the tokenizer
    gives them, so the collators and ``pad_batch`` take them unchanged.
    """
    special = SpecialTokens.of(tokenizer)
    room = settings.room(special.count)
    with _quiet_transformers():  # "longer than the maximum length": that is what is being handled here
        tokens = tokenizer(list(texts), add_special_tokens=False, truncation=False, padding=False,
                           return_attention_mask=False, return_token_type_ids=False)["input_ids"]
    encoded: dict[str, list] = {"input_ids": [], "attention_mask": [], "text_row": []}
    for row, ids in enumerate(tokens):
        for piece in select_tokens(ids, settings, room):
            full = special.prefix + piece + special.suffix
            encoded["input_ids"].append(full)
            encoded["attention_mask"].append([1] * len(full))
            encoded["text_row"].append(row)
    if special.token_types:
        encoded["token_type_ids"] = [[0] * len(ids) for ids in encoded["input_ids"]]
    return encoded


def tokenize_long_split(dataset, tokenizer, settings: LongTexts):
    """:func:`bertstudio.train.feeds.tokenize_split` for head/tail/windows: one row per kept piece, each with its
    text's label, ``text_row`` (its text) and ``row`` (its own index, as the loaders expect)."""
    has_label = "label" in dataset.column_names

    def encode(batch: dict[str, list], indices: list[int]) -> dict[str, list]:
        enc = encode_long_texts(tokenizer, batch["text"], settings)
        out = {"input_ids": enc["input_ids"], "length": [len(ids) for ids in enc["input_ids"]],
               "text_row": [indices[i] for i in enc["text_row"]]}
        if has_label:
            out["label"] = [batch["label"][i] for i in enc["text_row"]]
        if "token_type_ids" in enc:
            out["token_type_ids"] = enc["token_type_ids"]
        return out

    pieces = dataset.map(encode, batched=True, batch_size=2000, with_indices=True,
                         remove_columns=dataset.column_names, desc="Tokenizing")
    return pieces.add_column("row", list(range(len(pieces))))


# --------------------------------------------------------------------------- per-text scores


def text_rows_of(dataset) -> np.ndarray | None:
    """Which text each row of a tokenized split (or a cached-features set) is from; None: one row per text."""
    if "text_row" in (getattr(dataset, "column_names", None) or ()):
        return column_array(dataset, "text_row")
    rows = getattr(dataset, "text_rows", None)
    return None if rows is None else np.asarray(rows)


def per_text(logits: np.ndarray, text_rows: np.ndarray | None, how: str = "mean") -> np.ndarray:
    """One row of logits per text (in text order): the mean or the max over its windows."""
    if text_rows is None:
        return logits
    texts, inverse, counts = np.unique(text_rows, return_inverse=True, return_counts=True)
    if how == "max":
        out = np.full((len(texts), logits.shape[1]), -np.inf, dtype=logits.dtype)
        np.maximum.at(out, inverse, logits)
        return out
    out = np.zeros((len(texts), logits.shape[1]), dtype=np.float64)
    np.add.at(out, inverse, logits)
    return (out / counts[:, None]).astype(logits.dtype)


def labels_per_text(dataset, labels: np.ndarray | None = None) -> np.ndarray:
    """The labels of a tokenized split (or ``labels``, one per row of it), one per text in the order
    :func:`per_text` gives its logits."""
    labels = column_array(dataset, "label") if labels is None else labels
    rows = text_rows_of(dataset)
    if rows is None:
        return labels
    _, first = np.unique(rows, return_index=True)
    return labels[first]

"""How long the texts are in tokens, and which maximum length to train with.

The maximum length is the biggest speed knob: attention cost grows with it, and
padding every text to 512 when 95% fit in 64 wastes most of the compute.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from bertstudio.errors import DataError

MAX_LENGTH_LADDER: tuple[int, ...] = (32, 64, 128, 256, 384, 512)
DEFAULT_CANDIDATES: tuple[int, ...] = (32, 64, 128, 256, 512)
HARD_MAX_LENGTH = 512  # BERT-family position embeddings stop here
COVERAGE = 0.95
PERCENTILES: tuple[int, ...] = (50, 90, 95, 99)
HISTOGRAM_BINS = 30
# What happens to the texts longer than the maximum length, before training has chosen (``long_texts`` "auto",
# train/long_texts.py): not "only their beginning", which is one of four choices (data/long_texts.py).
LONG_TEXTS_CHOICE = ("what is kept of them (the start, the end, both, or overlapping windows across each) is "
                     "chosen from your data unless you set it")
_TOKENIZE_BATCH = 1_000


@dataclass
class LengthStats:
    """Token-length summary of (a sample of) the texts, including [CLS]/[SEP]."""

    n: int
    sampled: bool
    percentiles: dict[int, int]
    max: int
    mean: float
    histogram: dict[str, list[float]] = field(default_factory=dict)  # bin_edges, counts
    truncated_share: dict[int, float] = field(default_factory=dict)
    suggested_max_length: int = 128
    reason: str = ""
    # --- long texts ---
    # Lengths at every percentile 0..100: how many texts a maximum length cuts, and the windows they would need
    # (bertstudio.train.long_texts); empty for stats saved before it.
    percentile_grid: list[int] = field(default_factory=list)

    def share_longer_than(self, max_length: int) -> float:
        """Share of the texts longer than ``max_length`` tokens, as every view of the data says it (the length
        chart's title, the note under the length box): exact for the lengths measured
        (``truncated_share``), else read from the histogram, texts spread evenly inside a bin (else, for stats
        without one, from the lengths at each percentile)."""
        if max_length in self.truncated_share:
            return float(self.truncated_share[max_length])
        edges, counts = list(self.histogram.get("bin_edges", [])), list(self.histogram.get("counts", []))
        total = sum(counts)
        if not total or len(edges) != len(counts) + 1:
            grid = self.percentile_grid
            return sum(length > max_length for length in grid[1:]) / (len(grid) - 1) if len(grid) > 1 else 0.0
        longer = 0.0
        for low, high, count in zip(edges[:-1], edges[1:], counts):
            if low >= max_length:
                longer += count
            elif high > max_length:
                longer += count * (high - max_length) / (high - low)
        return longer / total


def suggest_max_length(
    lengths_or_percentiles: Sequence[int] | Mapping[int, int],
    *,
    model_max_length: int | None = None,
    coverage: float = COVERAGE,
    ladder: Sequence[int] = MAX_LENGTH_LADDER,
) -> int:
    """Smallest ladder step that fits `coverage` of the texts, never above the model's limit.

    Accepts raw token lengths, or percentiles {95: 61, ...} (the key
    `round(coverage * 100)` must be present).
    """
    import numpy as np

    if isinstance(lengths_or_percentiles, Mapping):
        needed = int(lengths_or_percentiles[round(coverage * 100)])
    else:
        lengths = np.asarray(lengths_or_percentiles)
        needed = int(np.percentile(lengths, coverage * 100, method="inverted_cdf")) if lengths.size else 0
    limit = effective_limit(model_max_length)
    steps = sorted(step for step in ladder if step <= limit) or [limit]
    return next((step for step in steps if step >= needed), steps[-1])


def effective_limit(model_max_length: int | None) -> int:
    """The model's own limit, capped at 512 (tokenizers without one report a huge number)."""
    if not model_max_length or model_max_length <= 0:
        return HARD_MAX_LENGTH
    return min(int(model_max_length), HARD_MAX_LENGTH)


LENGTH_SAMPLE_TEXTS = 20_000  # a random sample this big measures a big file's lengths as well as every text would


def token_length_stats(
    texts: Sequence[str],
    tokenizer: Any,
    *,
    text_pairs: Sequence[str] | None = None,
    candidates: Sequence[int] = DEFAULT_CANDIDATES,
    sample_size: int = LENGTH_SAMPLE_TEXTS,
    seed: int = 0,
) -> LengthStats:
    """Measure token lengths with a fast tokenizer (on a random sample for big data)."""
    import numpy as np

    n_rows = len(texts)
    if n_rows == 0:
        raise DataError("There are no texts to measure.", hint="Load a file with at least one text.")
    picked = sample_positions(n_rows, sample_size, seed)
    sampled = picked is not None
    sample = take_rows(texts, picked)
    pairs = take_rows(text_pairs, picked) if text_pairs is not None else None

    lengths = measure_lengths(sample, tokenizer, text_pairs=pairs)
    limit = effective_limit(getattr(tokenizer, "model_max_length", None))
    suggested = suggest_max_length(lengths, model_max_length=limit)
    counts, edges = np.histogram(lengths, bins=HISTOGRAM_BINS)
    return LengthStats(
        n=len(lengths),
        sampled=sampled,
        percentiles={q: int(np.percentile(lengths, q, method="inverted_cdf")) for q in PERCENTILES},
        max=int(lengths.max()),
        mean=float(lengths.mean()),
        histogram={"bin_edges": [float(e) for e in edges], "counts": [int(c) for c in counts]},
        truncated_share={int(c): float((lengths > c).mean()) for c in candidates},
        suggested_max_length=suggested,
        reason=explain_suggestion(lengths, suggested, limit),
        percentile_grid=[int(v) for v in np.percentile(lengths, range(101), method="inverted_cdf")],
    )


def sample_positions(n_rows: int, sample_size: int = LENGTH_SAMPLE_TEXTS, seed: int = 0) -> Any:
    """The sorted positions of the random sample the lengths are measured on; None when every row is measured.
    The vocabulary check (``vocabulary``) reads from the same sample."""
    import numpy as np

    if n_rows <= sample_size:
        return None
    return np.sort(np.random.default_rng(seed).choice(n_rows, sample_size, replace=False))


def take_rows(texts: Sequence[str], positions: Any) -> list[str]:
    """The texts at `positions` (all when None) as a list, reading only those rows."""
    if positions is None:
        return list(texts)
    if hasattr(texts, "iloc"):  # pandas Series: by position, not by index label
        return texts.iloc[positions].tolist()
    if isinstance(texts, (list, tuple)):
        return [texts[i] for i in positions]
    # datasets columns and numpy arrays take a list of positions in one batched read.
    return list(texts[positions.tolist()])


def measure_lengths(texts: list[str], tokenizer: Any, *, text_pairs: list[str] | None = None) -> Any:
    """Token counts (with special tokens), batched, without padding or truncation."""
    import numpy as np

    lengths: list[int] = []
    with _quiet_transformers():
        for start in range(0, len(texts), _TOKENIZE_BATCH):
            batch = texts[start : start + _TOKENIZE_BATCH]
            pair_batch = text_pairs[start : start + _TOKENIZE_BATCH] if text_pairs is not None else None
            encoded = tokenizer(
                batch,
                pair_batch,
                add_special_tokens=True,
                truncation=False,
                padding=False,
                return_attention_mask=False,
                return_token_type_ids=False,
            )
            lengths.extend(len(ids) for ids in encoded["input_ids"])
    return np.asarray(lengths, dtype=np.int64)


def explain_suggestion(lengths: Any, suggested: int, limit: int) -> str:
    """One sentence a non-engineer can act on."""
    import numpy as np

    lengths = np.asarray(lengths)
    fits = float((lengths <= suggested).mean())
    cut = float((lengths > suggested).mean())  # not 1 - fits: 1.7% beside another line's 1.8% for 7 of 400
    if cut == 0:
        return f"All texts fit in {suggested} tokens; none will be cut."
    if fits >= COVERAGE:
        return f"{percent_text(fits)} of texts fit in {suggested} tokens; {percent_text(cut)} will be cut."
    return (
        f"Only {percent_text(fits)} of texts fit in {suggested} tokens, the most this model can read; "
        f"{percent_text(cut)} will be cut: {LONG_TEXTS_CHOICE}."
    )


def percent_text(share: float) -> str:
    """'95%', '0.8%', '<0.1%': enough precision to be honest, no more."""
    percent = float(share) * 100
    if 0 < percent < 0.1:
        return "<0.1%"
    if (percent < 10 or 99 < percent < 100) and not percent.is_integer():
        return f"{percent:.1f}%"
    return f"{percent:.0f}%"


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence 'sequence longer than maximum' warnings: long texts are what we are measuring."""
    from transformers.utils import logging

    previous = logging.get_verbosity()
    logging.set_verbosity_error()
    try:
        yield
    finally:
        logging.set_verbosity(previous)

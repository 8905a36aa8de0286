"""Train / validation / test splits that keep every class's share and adapt to the data size."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bertstudio.data.prepare import PreparedData
from bertstudio.errors import DataError

if TYPE_CHECKING:
    import datasets
    import numpy as np

SMALL_DATA_ROWS = 300
SMALL_DATA_FRACTION = 0.15
DEFAULT_FRACTION = 0.10
MAX_VALIDATION_ROWS = 5_000
MAX_TEST_ROWS = 10_000


@dataclass
class SplitData:
    """The three datasets a training run uses, and where each came from."""

    train: datasets.Dataset
    validation: datasets.Dataset
    test: datasets.Dataset
    label_names: list[str]
    source: list[str] = field(default_factory=list)

    def sizes(self) -> dict[str, int]:
        return {"train": self.train.num_rows, "validation": self.validation.num_rows, "test": self.test.num_rows}


def split_fractions(n_rows: int) -> tuple[float, float]:
    """(validation, test) shares of a file with `n_rows` rows.

    Small files keep 15% each so the scores mean something; from 300 rows 10% each;
    big files cap validation at 5,000 rows and test at 10,000 (more adds little
    precision and only slows evaluation).
    """
    if n_rows <= 0:
        return 0.0, 0.0
    if n_rows < SMALL_DATA_ROWS:
        return SMALL_DATA_FRACTION, SMALL_DATA_FRACTION
    return min(DEFAULT_FRACTION, MAX_VALIDATION_ROWS / n_rows), min(DEFAULT_FRACTION, MAX_TEST_ROWS / n_rows)


def split(
    prepared: PreparedData,
    *,
    val: PreparedData | None = None,
    test: PreparedData | None = None,
    seed: int = 42,
) -> SplitData:
    """Split the main file; user-given validation/test files take precedence over carving."""
    import numpy as np

    prepared.raise_if_errors()
    main = prepared.dataset
    # One columnar read; np.asarray(main["label"]) would walk a million rows in Python.
    labels = main.select_columns(["label"]).with_format("numpy")[:]["label"].astype(np.int64)
    parts = carve_parts(labels, seed=seed, carve_test=test is None, carve_validation=val is None)

    train_ds = main.select(parts.train)
    val_ds = _align(val, prepared, "validation") if val is not None else main.select(parts.validation)
    test_ds = _align(test, prepared, "test") if test is not None else main.select(parts.test)

    source = [
        f"Training: {train_ds.num_rows:,} rows from the main file.",
        _origin_note("Validation", val_ds.num_rows, from_user=val is not None),
        _origin_note("Test", test_ds.num_rows, from_user=test is not None),
    ]
    source += [
        f"Class '{prepared.label_names[cls]}' has too few rows to put any in {' or '.join(roles)}, "
        "so scores there do not cover it."
        for cls, roles in sorted(parts.missing_from.items())
    ]
    if val_ds.num_rows == 0 or test_ds.num_rows == 0:
        source.append("The data is too small to hold rows back for validation/test; scores will not be reliable.")
    return SplitData(train_ds, val_ds, test_ds, list(prepared.label_names), source)


@dataclass(frozen=True)
class CarvedParts:
    """Row indices of the three parts of a file (``split``'s rules, before any row is read), and the classes too
    small to reach validation or test.  ``validation``/``test`` are empty where the person gave a file of their own."""

    train: np.ndarray
    validation: np.ndarray
    test: np.ndarray
    missing_from: dict[int, list[str]]  # class id -> the parts it has too few rows to appear in


def carve_parts(labels: np.ndarray, *, seed: int, carve_test: bool = True,
                carve_validation: bool = True) -> CarvedParts:
    """Test first, then validation from what is left, each stratified by class (``carve``): the one place the
    parts' rows are chosen, so ``split`` and ``split_sizes`` (the plan the app shows) cannot differ."""
    import numpy as np

    n = len(labels)
    val_frac, test_frac = split_fractions(n)
    pool, none = np.arange(n), np.arange(0)
    test_idx = val_idx = none
    missing_from: dict[int, list[str]] = {}
    if carve_test:
        pool, test_idx, lonely = carve(pool, labels, round(test_frac * n), seed=seed)
        for cls in lonely:
            missing_from.setdefault(cls, []).append("test")
    if carve_validation:
        pool, val_idx, lonely = carve(pool, labels, round(val_frac * n), seed=seed + 1)
        for cls in lonely:
            missing_from.setdefault(cls, []).append("validation")
    return CarvedParts(pool, val_idx, test_idx, missing_from)


@dataclass(frozen=True)
class SplitSizes:
    """How many rows each part of a file gets, and how many of each class training keeps."""

    train: int
    validation: int
    test: int
    train_class_counts: tuple[int, ...]  # in class-id order (the order of ``ValidationReport.class_counts``)


def split_sizes(class_counts: Sequence[int], *, seed: int = 42) -> SplitSizes:
    """The sizes ``split`` gives a file whose classes, in class-id order, have ``class_counts`` rows, without the
    file: the split's own carving (``carve_parts``) on stand-in labels.

    Exact, not an estimate: how many rows of each class are carved depends only on the counts per class (sklearn's
    stratified split allots them from the counts; the row order only decides which rows), and so does the one row
    moved for a class a part would otherwise lack.  The shares alone (``split_fractions``) are wrong with many small
    classes: every class gets a row in test and in validation, so 32 classes of 5 rows keep 32 + 32 rows back, not
    the 23 + 23 that 15% of 156 would."""
    return _split_sizes(tuple(int(count) for count in class_counts), seed)


@functools.lru_cache(maxsize=64)
def _split_sizes(class_counts: tuple[int, ...], seed: int) -> SplitSizes:
    """Cached: the app asks for the plan at every change of a setting, and a million stand-in labels take a
    fraction of a second to carve."""
    import numpy as np

    labels = np.repeat(np.arange(len(class_counts), dtype=np.int64), class_counts)
    parts = carve_parts(labels, seed=seed)
    kept = np.bincount(labels[parts.train], minlength=len(class_counts))
    return SplitSizes(len(parts.train), len(parts.validation), len(parts.test), tuple(int(c) for c in kept))


def _origin_note(role: str, n_rows: int, *, from_user: bool) -> str:
    if from_user:
        return f"{role}: {n_rows:,} rows from the {role.lower()} file you provided."
    return f"{role}: {n_rows:,} rows held out from the main file (stratified by class)."


def carve(
    pool: np.ndarray, labels: np.ndarray, n_carve: int, *, seed: int
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Split row indices `pool` into (kept, carved, lonely classes), about `n_carve` carved, stratified.

    Classes with a single row in the pool stay in `kept` (they cannot be
    stratified) and are returned so the caller can say so. Every other class
    gets at least one carved row where possible, so small datasets still
    evaluate every class.
    """
    import numpy as np
    from sklearn.model_selection import train_test_split

    pool_labels = labels[pool]
    classes, counts = np.unique(pool_labels, return_counts=True)
    lonely = classes[counts < 2]
    eligible = ~np.isin(pool_labels, lonely)
    candidates, fixed = pool[eligible], pool[~eligible]
    n_classes = len(classes) - len(lonely)
    if n_carve <= 0 or n_classes == 0:
        return np.sort(pool), pool[:0], []

    # sklearn needs room for one row per class on each side.
    n_carve = int(min(max(n_carve, n_classes), len(candidates) - n_classes))
    kept, carved = train_test_split(candidates, test_size=n_carve, stratify=labels[candidates], random_state=seed)
    kept, carved = _ensure_every_class(kept, carved, labels, seed)
    return np.sort(np.concatenate([kept, fixed])), np.sort(carved), [int(c) for c in lonely]


def _ensure_every_class(
    kept: np.ndarray, carved: np.ndarray, labels: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Move one row into `carved` for any class it lacks, if training keeps at least one."""
    import numpy as np

    rng = np.random.default_rng(seed)
    for cls in np.setdiff1d(labels[kept], labels[carved]):  # usually none
        in_kept = kept[labels[kept] == cls]
        if len(in_kept) < 2:
            continue
        moved = rng.choice(in_kept)
        kept = kept[kept != moved]
        carved = np.append(carved, moved)
    return kept, carved


def _align(other: PreparedData, main: PreparedData, role: str) -> datasets.Dataset:
    """`other`'s rows with label ids renumbered to the main file's classes."""
    import datasets
    import numpy as np

    if other.has_pair != main.has_pair:
        need = "two text columns" if main.has_pair else "one text column"
        raise DataError(
            f"The {role} file must have the same layout as the training file ({need}).",
            hint="Choose the same kind of columns for every file.",
        )
    if other.dataset.num_rows == 0:
        raise DataError(f"The {role} file has no usable rows.", hint=f"Check the {role} file's text and label columns.")
    unseen = [name for name in other.label_names if name not in main.label2id]
    if unseen:
        listed = ", ".join(f"'{name}'" for name in unseen)
        raise DataError(
            f"The {role} file has labels that never appear in the training file: {listed}.",
            hint="Fix their spelling to match a training label, remove those rows, or add examples to the training file.",
        )
    remap = np.array([main.label2id[name] for name in other.label_names], dtype=np.int64)
    features = other.dataset.features.copy()
    features["label"] = datasets.ClassLabel(names=list(main.label_names))
    return other.dataset.map(
        lambda batch: {"label": remap[np.asarray(batch["label"], dtype=np.int64)].tolist()},
        batched=True,
        features=features,
        desc=f"Aligning {role} labels",
    )

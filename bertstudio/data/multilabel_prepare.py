"""A multi-label file cleaned into texts + 0/1 label vectors, split with every label's share kept."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bertstudio.data.findings import Finding, no_labels_finding
from bertstudio.data.multilabel import (
    TaskChoice,
    check_label_count,
    describe_label_sets,
    empty_label_findings,
    label_sets_from_cells,
    label_sets_from_columns,
    multi_hot,
    rare_label_findings,
    separator_in_names_findings,
    sort_label_names,
)
from bertstudio.data.prepare import (
    LONG_TEXT_CHARS,
    PreparedData,
    ValidationReport,
    _check_columns,
    _clean_texts,
    _duplicate_findings,
    _long_text_findings,
)
from bertstudio.data.split import SplitData, carve, split_fractions
from bertstudio.errors import DataError

if TYPE_CHECKING:
    import datasets
    import numpy as np


def prepare_multilabel(ds: datasets.Dataset, choice: TaskChoice, *, text_col: str, label_col: str | None,
                       text_pair_col: str | None = None, casefold_labels: bool = False,
                       empty_labels: str = "skip", label_names: list[str] | None = None) -> PreparedData:
    """Texts with their label sets as 0/1 vectors, and every problem found (like ``prepare``).

    ``label_names``: the training file's labels, for a validation or test file (a label it lacks is an error).
    """
    import numpy as np
    import pandas as pd

    text_cols = [text_col] + ([text_pair_col] if text_pair_col else [])
    label_cols = choice.label_columns or [label_col]
    _check_label_columns(ds, label_cols, text_cols)
    if choice.separator:
        _check_columns(ds, text_col, label_col, text_pair_col)
    frame = ds.select_columns([*text_cols, *label_cols]).to_pandas()
    texts = {col: _clean_texts(frame[col]) for col in text_cols}
    if choice.label_columns:
        sets = label_sets_from_columns(frame, choice.label_columns)
        where = "the label columns"
    else:
        sets = label_sets_from_cells(frame[label_col], choice.separator, casefold_labels)
        where = f"'{label_col}'"
    no_text = np.zeros(len(frame), dtype=bool)
    for series in texts.values():
        no_text |= series.isna().to_numpy()
    empty = [i for i, labels in enumerate(sets) if labels is None and not no_text[i]]
    keep_empty = empty_labels == "none"
    keep = ~no_text & np.array([labels is not None or keep_empty for labels in sets], dtype=bool)
    kept_sets = [sets[i] or [] for i in np.flatnonzero(keep)]

    if not any(sets) and not (keep_empty and label_names is not None):
        # Nothing to learn from (or to score against): one clear error, before a dataset with no labels is built.
        finding = no_labels_finding(where, len(frame))
        raise DataError(finding.message, hint=finding.hint)
    names = label_names if label_names is not None else sort_label_names(kept_sets)
    _refuse_unseen(kept_sets, names, label_names is not None)
    findings = empty_label_findings([i + 1 for i in empty], keep_empty, where)
    if no_text.any():
        findings += [_empty_text_finding(int(no_text.sum()), text_cols)]
    findings += check_label_count(names, len(kept_sets))
    info = describe_label_sets(kept_sets, names, choice, len(empty))
    if label_names is None:
        findings += rare_label_findings(info.label_counts)
    if choice.separator:
        findings += separator_in_names_findings(frame[label_col], choice.separator)

    out_cols = ["text", "text_pair"][: len(text_cols)]
    clean = pd.DataFrame({out: texts[col][keep].to_numpy(dtype=object) for out, col in zip(out_cols, text_cols)})
    set_keys = [";".join(labels) for labels in kept_sets]
    set_ids, set_names = pd.factorize(pd.Series(set_keys, dtype=object))
    findings += _duplicate_findings(clean.assign(label=set_ids), out_cols, [n or "(none)" for n in set_names])
    findings += _long_text_findings(clean["text"], LONG_TEXT_CHARS)

    report = ValidationReport(findings, len(frame), len(clean), dict(info.label_counts))
    dataset = to_multilabel_dataset(clean, multi_hot(kept_sets, names))
    return PreparedData(dataset, names, {n: i for i, n in enumerate(names)}, report, text_col,
                        label_col or ",".join(label_cols), text_pair_col, multilabel=info)


def _check_label_columns(ds: datasets.Dataset, label_cols: list[str], text_cols: list[str]) -> None:
    missing = [c for c in label_cols if c not in ds.column_names]
    if missing:
        raise DataError(f"The label column{'s' if len(missing) > 1 else ''} {', '.join(map(repr, missing))} "
                        "not in the data.",
                        hint=f"Choose among the columns that exist: {', '.join(ds.column_names)}.")
    clash = [c for c in label_cols if c in text_cols]
    if clash:
        raise DataError(f"The column '{clash[0]}' was chosen both as text and as a label.",
                        hint="Pick different columns for the text and the labels.")


def _refuse_unseen(sets: list[list[str]], names: list[str], from_training: bool) -> None:
    known = set(names)
    unseen = sorted({name for labels in sets for name in labels} - known)
    if unseen and from_training:
        listed = ", ".join(f"'{n}'" for n in unseen[:10])
        raise DataError(f"This file has labels that never appear in the training file: {listed}.",
                        hint="Fix their spelling to match a training label, remove them, or add examples of them "
                             "to the training file.")


def _empty_text_finding(n: int, text_cols: list[str]) -> Finding:
    cols = " / ".join(f"'{c}'" for c in text_cols)
    return Finding("warning", "empty_text", f"{n:,} row{'s' if n != 1 else ''} with an empty text in {cols} left out.",
                   hint=f"Fill in those texts, or check that {cols} is the right text column.", count=n)


def to_multilabel_dataset(clean, vectors: np.ndarray) -> datasets.Dataset:
    """The cleaned texts and their 0/1 label vectors as a dataset, built as Arrow columns: the vectors as Python
    lists would be a float object per label and row (28 labels x 1M rows: ~1 GB) before Arrow packs them."""
    import datasets
    import numpy as np
    import pyarrow as pa

    features = {name: datasets.Value("string") for name in clean.columns}
    features["label"] = datasets.Sequence(datasets.Value("float32"), length=vectors.shape[1])
    features = datasets.Features(features)
    columns = {name: pa.array(clean[name].to_numpy(dtype=object), type=pa.string()) for name in clean.columns}
    flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1))
    columns["label"] = pa.FixedSizeListArray.from_arrays(flat, vectors.shape[1])
    table = pa.table(columns).cast(features.arrow_schema)
    return datasets.Dataset(datasets.table.InMemoryTable(table), info=datasets.DatasetInfo(features=features))


def label_matrix(dataset) -> np.ndarray:
    """The 0/1 label vectors of a multi-label dataset, rows x labels."""
    import numpy as np

    return np.asarray(dataset.with_format("numpy")["label"], dtype=np.float32).reshape(len(dataset), -1)


def stratification_keys(labels: np.ndarray) -> np.ndarray:
    """One class per row for a stratified split: its rarest label (rows with none: a group of their own).

    Rare labels decide where their rows go, so each rare label reaches validation and test whenever it has
    rows enough; frequent labels are then spread well by chance alone.
    """
    import numpy as np

    counts = labels.sum(axis=0)
    rarity = np.where(labels > 0, counts[None, :], np.inf)
    keys = rarity.argmin(axis=1)
    keys[~(labels > 0).any(axis=1)] = labels.shape[1]
    return keys.astype(np.int64)


def split_multilabel(prepared: PreparedData, *, val: PreparedData | None = None, test: PreparedData | None = None,
                     seed: int = 42) -> SplitData:
    """Train / validation / test like ``split``, stratified on each row's rarest label."""
    import numpy as np

    prepared.raise_if_errors()
    main = prepared.dataset
    labels = label_matrix(main)
    keys = stratification_keys(labels)
    n = len(labels)
    val_frac, test_frac = split_fractions(n)
    pool = np.arange(n)
    test_idx = val_idx = None
    if test is None:
        pool, test_idx, _ = carve(pool, keys, round(test_frac * n), seed=seed)
    if val is None:
        pool, val_idx, _ = carve(pool, keys, round(val_frac * n), seed=seed + 1)
    train_ds = main.select(pool)
    val_ds = _checked(val, "validation") if val is not None else main.select(val_idx)
    test_ds = _checked(test, "test") if test is not None else main.select(test_idx)
    source = [f"Training: {train_ds.num_rows:,} rows from the main file."]
    for role, ds, given in (("Validation", val_ds, val), ("Test", test_ds, test)):
        source.append(f"{role}: {ds.num_rows:,} rows " + (f"from the {role.lower()} file you provided." if given
                                                          else "held out from the main file (stratified by each "
                                                               "row's rarest label)."))
        absent = [prepared.label_names[j] for j in np.flatnonzero(label_matrix(ds).sum(axis=0) == 0)] if len(ds) else []
        if absent:
            source.append(f"{role} has no row with {', '.join(repr(a) for a in absent[:10])}"
                          + (f" and {len(absent) - 10} more" if len(absent) > 10 else "")
                          + ", so its scores do not cover those labels.")
    if val_ds.num_rows == 0 or test_ds.num_rows == 0:
        source.append("The data is too small to hold rows back for validation/test; scores will not be reliable.")
    return SplitData(train_ds, val_ds, test_ds, list(prepared.label_names), source)


def _checked(other: PreparedData, role: str):
    if other.dataset.num_rows == 0:
        raise DataError(f"The {role} file has no usable rows.", hint=f"Check the {role} file's text and label columns.")
    return other.dataset

"""From a raw table to a clean classification dataset plus a report of what was found.

Data problems never raise here: they become findings in a ValidationReport that
the app shows to the user. Only a wrong column name raises, because nothing
sensible can be reported without the columns. Work is vectorised over the few
needed columns, so a million short rows prepare in seconds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from bertstudio.data.findings import Finding, no_labels_finding
from bertstudio.data.findings import count_noun as _count
from bertstudio.data.labels import is_number, normalise_label, sort_labels
from bertstudio.errors import DataError

if TYPE_CHECKING:
    import datasets
    import numpy as np
    import pandas as pd

_LEVEL_ORDER: dict[str, int] = {"error": 0, "warning": 1, "info": 2}

MIN_CLASS_COUNT = 5
LONG_TEXT_CHARS = 5_000
IMBALANCE_RATIO = 5.0
MAX_EXAMPLES = 5
_EXAMPLE_CHARS = 80
_SUMMARY_CLASSES = 10
_LIST_SEPARATORS = (";", "|")
# Labels that are not classes. A file whose every label is unique (an id or free-text column picked as the
# label) used to start training, write half a run folder and fail with "Column 'length' doesn't exist".
MAX_CLASSES = 1_000
MAX_SINGLETON_ROW_SHARE = 0.5  # rows whose label no other row has
MAX_DECIMAL_CLASSES = 20  # different numbers with decimals: measurements (a regression target), not classes
# Errors that stop training but not evaluation: a test file may hold one class, or few rows of many.
TRAINING_ONLY_CODES = ("single_class", "too_many_classes", "numeric_labels")


@dataclass
class ValidationReport:
    """Everything `prepare` noticed, in plain words."""

    findings: list[Finding]
    n_rows_in: int
    n_rows_kept: int
    class_counts: dict[str, int]

    @property
    def has_errors(self) -> bool:
        return any(f.level == "error" for f in self.findings)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]

    def summary(self) -> str:
        shown = self.class_counts
        if len(shown) > _SUMMARY_CLASSES:  # name the biggest classes only
            biggest = sorted(shown, key=shown.__getitem__, reverse=True)[:_SUMMARY_CLASSES]
            shown = {name: shown[name] for name in biggest}
        classes = ", ".join(f"{name} ({count:,})" for name, count in shown.items())
        if len(shown) < len(self.class_counts):
            classes += f" and {len(self.class_counts) - len(shown):,} more"
        return (
            f"Kept {self.n_rows_kept:,} of {_count(self.n_rows_in, 'row')}; "
            f"{_count(len(self.class_counts), 'class', 'classes')}" + (f": {classes}." if classes else ".")
        )

    def to_text(self) -> str:
        ordered = sorted(self.findings, key=lambda f: _LEVEL_ORDER[f.level])
        return "\n".join([self.summary(), *(f.to_text() for f in ordered)])

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_rows_in": self.n_rows_in,
            "n_rows_kept": self.n_rows_kept,
            "class_counts": dict(self.class_counts),
            "has_errors": self.has_errors,
            "findings": [asdict(f) for f in self.findings],
        }


@dataclass
class PreparedData:
    """A clean dataset: columns `text`, optional `text_pair`, and `label` (int id)."""

    dataset: datasets.Dataset
    label_names: list[str]
    label2id: dict[str, int]
    report: ValidationReport
    text_col: str
    label_col: str
    text_pair_col: str | None = None
    multilabel: Any = None  # data.multilabel.MultiLabelInfo when each text has a set of labels (label: 0/1 vector)

    @property
    def has_pair(self) -> bool:
        return self.text_pair_col is not None

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.label_names))

    def raise_if_errors(self) -> None:
        """Stop here (with a DataError) if the report has blocking problems."""
        errors = self.report.errors
        if errors:
            hints = [f.hint for f in errors if f.hint]
            raise DataError(" ".join(f.message for f in errors), hint=" ".join(hints) or None)


def prepare(
    ds: datasets.Dataset,
    *,
    text_col: str,
    label_col: str,
    text_pair_col: str | None = None,
    casefold_labels: bool = False,
    min_class_count: int = MIN_CLASS_COUNT,
    long_text_chars: int = LONG_TEXT_CHARS,
) -> PreparedData:
    """Clean `ds` into texts + integer labels and report every data problem found."""
    _check_columns(ds, text_col, label_col, text_pair_col)
    text_cols = [text_col] + ([text_pair_col] if text_pair_col else [])
    frame = ds.select_columns([*text_cols, label_col]).to_pandas()
    n_in = len(frame)

    texts = {col: _clean_texts(frame[col]) for col in text_cols}
    raw_labels, label_uniques = _normalised_label_codes(frame[label_col], casefold_labels)
    label_names = sort_labels(u for u in label_uniques if u is not None)
    label2id = {name: i for i, name in enumerate(label_names)}
    label_ids = _label_ids(raw_labels, label_uniques, label2id)

    keep, findings = _drop_incomplete_rows(texts, label_ids, text_cols, label_col)

    out_cols = ["text", "text_pair"][: len(text_cols)]
    clean = _frame({out: texts[col][keep] for out, col in zip(out_cols, text_cols)}, label_ids[keep])
    class_counts = _class_counts(clean["label"].to_numpy(), label_names)
    # Classes whose every row was dropped (e.g. only empty texts) are not classes.
    if any(count == 0 for count in class_counts.values()):
        label_names, clean = _drop_empty_classes(clean, label_names, class_counts)
        label2id = {name: i for i, name in enumerate(label_names)}
        class_counts = {name: class_counts[name] for name in label_names}

    findings += _duplicate_findings(clean, out_cols, label_names)
    if n_in and bool((label_ids < 0).all()):  # not one label in the whole column
        findings.append(no_labels_finding(f"'{label_col}'", n_in))
    else:
        findings += _class_findings(class_counts, min_class_count)
    findings += _combined_label_findings(class_counts)
    findings += _case_variant_findings(class_counts)
    findings += _long_text_findings(clean["text"], long_text_chars)

    report = ValidationReport(findings, n_in, len(clean), class_counts)
    dataset = _to_dataset(clean, label_names, has_pair=text_pair_col is not None)
    return PreparedData(dataset, label_names, label2id, report, text_col, label_col, text_pair_col)


# --------------------------------------------------------------------------- steps


def _check_columns(ds: datasets.Dataset, text_col: str, label_col: str, text_pair_col: str | None) -> None:
    available = list(ds.column_names)
    for role, col in (("text", text_col), ("label", label_col), ("second text", text_pair_col)):
        if col is not None and col not in available:
            raise DataError(
                f"The {role} column '{col}' is not in the data.",
                hint=f"Choose one of the columns that exist: {', '.join(available)}.",
            )
    chosen = [c for c in (text_col, label_col, text_pair_col) if c is not None]
    if len(set(chosen)) != len(chosen):
        raise DataError(
            "The same column was chosen for two roles (text, label, second text).",
            hint="Pick a different column for each role.",
        )


def _clean_texts(column: pd.Series) -> pd.Series:
    """Texts as stripped strings; missing or blank texts become NA."""
    import pandas as pd

    texts = column.astype("string").str.strip()
    return texts.mask(texts == "", pd.NA)


def _normalised_label_codes(column: pd.Series, casefold: bool) -> tuple[np.ndarray, list[str | None]]:
    """Factorise first, then normalise each distinct value once: cheap even for a million rows."""
    import pandas as pd

    codes, uniques = pd.factorize(column.astype(object), use_na_sentinel=True)
    return codes, [normalise_label(u, casefold=casefold) for u in uniques]


def _label_ids(codes: np.ndarray, uniques: list[str | None], label2id: dict[str, int]) -> np.ndarray:
    """Integer label per row, -1 where the label is missing."""
    import numpy as np

    lookup = np.array([label2id[u] if u is not None else -1 for u in uniques] + [-1], dtype=np.int64)
    return lookup[codes]  # code -1 (missing) picks the trailing -1


def _drop_incomplete_rows(
    texts: dict[str, pd.Series],
    label_ids: np.ndarray,
    text_cols: list[str],
    label_col: str,
) -> tuple[np.ndarray, list[Finding]]:
    """Boolean mask of usable rows, and findings saying why the others were left out."""
    import numpy as np

    findings: list[Finding] = []
    no_text = np.zeros(len(label_ids), dtype=bool)
    for series in texts.values():
        no_text |= series.isna().to_numpy()
    no_label = label_ids < 0
    blank = no_text & no_label
    only_text_missing = int((no_text & ~no_label).sum())
    only_label_missing = int((~no_text & no_label).sum())
    cols = " / ".join(f"'{c}'" for c in text_cols)

    if blank.any():
        findings.append(Finding(
            "info", "blank_rows", f"{_count(int(blank.sum()), 'blank row')} (no text and no label) skipped.",
            count=int(blank.sum()),
        ))
    if only_text_missing:
        findings.append(Finding(
            "warning", "empty_text",
            f"{_count(only_text_missing, 'row')} with a label but an empty text in {cols} left out.",
            hint=f"Fill in those texts, or check that {cols} is the right text column.",
            count=only_text_missing,
        ))
    if only_label_missing:
        findings.append(Finding(
            "warning", "missing_label",
            f"{_count(only_label_missing, 'row')} with a text but no label in '{label_col}' left out.",
            hint="Give those rows a label, or check that the right label column is chosen.",
            count=only_label_missing,
            examples=_examples(texts[text_cols[0]][~no_text & no_label]),
        ))
    return ~(no_text | no_label), findings


def _frame(columns: dict[str, pd.Series], labels: np.ndarray) -> pd.DataFrame:
    import pandas as pd

    data: dict[str, Any] = {name: series.to_numpy(dtype=object) for name, series in columns.items()}
    data["label"] = labels
    return pd.DataFrame(data)


def _class_counts(label_ids: np.ndarray, label_names: list[str]) -> dict[str, int]:
    import numpy as np

    counts = np.bincount(label_ids, minlength=len(label_names)) if len(label_ids) else [0] * len(label_names)
    return {name: int(counts[i]) for i, name in enumerate(label_names)}


def _drop_empty_classes(
    clean: pd.DataFrame, label_names: list[str], class_counts: dict[str, int]
) -> tuple[list[str], pd.DataFrame]:
    """Renumber labels so only classes with rows remain."""
    import numpy as np

    kept = [name for name in label_names if class_counts[name] > 0]
    remap = np.array([kept.index(n) if n in kept else -1 for n in label_names], dtype=np.int64)
    clean = clean.assign(label=remap[clean["label"].to_numpy()])
    return kept, clean


def _duplicate_findings(clean: pd.DataFrame, text_cols: list[str], label_names: list[str]) -> list[Finding]:
    findings: list[Finding] = []
    repeated = clean.duplicated(subset=text_cols, keep=False)
    if not repeated.any():
        return findings
    n_extra = int(clean.duplicated(subset=text_cols).sum())
    share = n_extra / len(clean)
    findings.append(Finding(
        "warning" if share >= 0.01 else "info", "duplicates",
        f"{_count(n_extra, 'row')} repeating a text that appears earlier in the file ({share:.1%}).",
        hint=(
            "Repeated texts can land in both training and test data and make the score look better "
            "than it is; remove duplicates if they are not intended."
        ),
        count=n_extra,
        examples=_examples(clean.loc[repeated, "text"].drop_duplicates()),
    ))

    dupes = clean[repeated]
    n_labels = dupes.groupby(text_cols, sort=False)["label"].nunique()
    conflicting = n_labels[n_labels > 1]
    if len(conflicting):
        examples = []
        for key in conflicting.index[:MAX_EXAMPLES]:
            values = (key,) if len(text_cols) == 1 else key
            mask = (dupes[text_cols] == list(values)).all(axis=1)
            text = " / ".join(values)
            names = ", ".join(label_names[i] for i in sorted(set(dupes.loc[mask, "label"])))
            examples.append(f"{_shorten(text)!r} -> {names}")
        findings.append(Finding(
            "warning", "conflicting_labels",
            f"{_count(len(conflicting), 'text')} appearing more than once with different labels.",
            hint="Give each of these texts a single label (or remove the wrong rows); the model cannot learn both.",
            count=len(conflicting),
            examples=examples,
        ))
    return findings


def _class_findings(class_counts: dict[str, int], min_class_count: int) -> list[Finding]:
    if not class_counts:
        return [Finding(
            "error", "no_rows", "No usable rows are left: every row is missing its text or its label.",
            hint="Check that the right text and label columns are chosen.",
        )]
    if len(class_counts) == 1:
        (only,) = class_counts
        return [Finding(
            "error", "single_class",
            f"Every row has the same label ('{only}'). A classifier needs at least two classes to learn from.",
            hint="Add examples of at least one other class, or check that the right label column is chosen.",
            count=1,
        )]
    not_classes = _labels_that_are_not_classes(class_counts)
    if not_classes:
        return not_classes

    findings: list[Finding] = []
    small = {name: n for name, n in class_counts.items() if n < min_class_count}
    if small:
        listed = ", ".join(f"'{name}' ({n})" for name, n in small.items())
        findings.append(Finding(
            "warning", "small_classes",
            f"{_count(len(small), 'class', 'classes')} with fewer than {min_class_count} examples: {listed}.",
            hint=(
                "Add more examples of these classes, merge them into a similar class, or remove them; "
                "the model cannot learn a class from a handful of rows."
            ),
            count=len(small),
        ))
    largest, smallest = max(class_counts.values()), min(class_counts.values())
    ratio = largest / smallest
    if ratio >= IMBALANCE_RATIO:
        big = max(class_counts, key=class_counts.__getitem__)
        tiny = min(class_counts, key=class_counts.__getitem__)
        findings.append(Finding(
            "warning", "imbalance",
            f"Classes are unbalanced: '{big}' has {largest:,} rows but '{tiny}' only {smallest:,} "
            f"({ratio:.0f} times fewer).",
            hint=(
                "Turn on class weights so rare classes count more in training, "
                "or add examples of the rare classes."
            ),
            count=int(round(ratio)),
        ))
    return findings


def _labels_that_are_not_classes(class_counts: dict[str, int]) -> list[Finding]:
    """One error when the labels look like measurements, ids or free text rather than a set of classes.

    Checked here, so ``inspect`` and ``train`` refuse the same files, and before a run folder exists.
    """
    hint_column = "Check that the right label column is chosen (on the command line: --label)."
    numbers = [name for name in class_counts if is_number(name)]
    decimals = [name for name in numbers if "." in name]
    if len(numbers) == len(class_counts) and len(decimals) > MAX_DECIMAL_CLASSES:
        return [Finding(
            "error", "numeric_labels",
            f"The labels are {len(class_counts):,} different numbers with decimals: measurements, not classes.",
            hint=f"{hint_column} BERT Studio sorts texts into classes; to predict a number, first group the "
                 "numbers into a few classes (for example low, medium, high).",
            count=len(class_counts), examples=decimals[:MAX_EXAMPLES])]
    n_rows = sum(class_counts.values())
    singletons = [name for name, n in class_counts.items() if n == 1]
    if len(singletons) > MAX_SINGLETON_ROW_SHARE * n_rows:
        return [Finding(
            "error", "too_many_classes",
            f"{len(singletons):,} of the {_count(n_rows, 'row')} have a label that no other row has: the "
            "label column looks like an id or free text, and a class with one example cannot be learned.",
            hint=f"{hint_column} Rows that belong to the same class must carry the same label.",
            count=len(singletons), examples=singletons[:MAX_EXAMPLES])]
    if len(class_counts) > MAX_CLASSES:
        return [Finding(
            "error", "too_many_classes",
            f"{len(class_counts):,} different labels: more classes than BERT Studio trains (at most "
            f"{MAX_CLASSES:,}).",
            hint=f"{hint_column} Otherwise merge rare labels into broader classes (or an 'other' class).",
            count=len(class_counts), examples=list(class_counts)[:MAX_EXAMPLES])]
    return []


def _combined_label_findings(class_counts: dict[str, int]) -> list[Finding]:
    """Labels like 'joy;love' whose parts are labels too: a multi-label file read as single-label."""
    combined = [
        name for name in class_counts
        if any(sep in name and all(part in class_counts for part in name.split(sep)) for sep in _LIST_SEPARATORS)
    ]
    if not combined:
        return []
    n_rows = sum(class_counts[name] for name in combined)
    return [Finding(
        "warning", "combined_labels",
        f"{_count(len(combined), 'label')} combining several other labels; "
        f"each combination is treated as a class of its own ({_count(n_rows, 'row')}).",
        hint=(
            "If a text can belong to several classes, keep one label per row (e.g. the main one); "
            "otherwise check how the labels were written."
        ),
        count=len(combined),
        examples=combined[:MAX_EXAMPLES],
    )]


def _case_variant_findings(class_counts: dict[str, int]) -> list[Finding]:
    """'Positive' and 'positive' as two classes is almost always a typing accident."""
    groups: dict[str, list[str]] = {}
    for name in class_counts:
        groups.setdefault(name.casefold(), []).append(name)
    variants = [names for names in groups.values() if len(names) > 1]
    if not variants:
        return []
    return [Finding(
        "warning", "case_variants",
        f"{_count(len(variants), 'label')} written in different upper/lower case, counted as separate classes.",
        hint="Turn on the option to ignore upper/lower case in labels to merge them, or fix the spelling in the file.",
        count=len(variants),
        examples=[" / ".join(names) for names in variants[:MAX_EXAMPLES]],
    )]


def _long_text_findings(texts: pd.Series, long_text_chars: int) -> list[Finding]:
    lengths = texts.str.len()
    long = lengths > long_text_chars
    n_long = int(long.sum())
    if not n_long:
        return []
    return [Finding(
        "info", "long_texts",
        f"{_count(n_long, 'text')} longer than {long_text_chars:,} characters (longest: {int(lengths.max()):,}).",
        hint=(
            "The model reads only the beginning of each text (up to its maximum length in tokens); "
            "put the important part first or split long documents."
        ),
        count=n_long,
        examples=_examples(texts[long]),
    )]


def _to_dataset(clean: pd.DataFrame, label_names: list[str], *, has_pair: bool) -> datasets.Dataset:
    import datasets

    features = {"text": datasets.Value("string")}
    if has_pair:
        features["text_pair"] = datasets.Value("string")
    features["label"] = datasets.ClassLabel(names=label_names)
    return datasets.Dataset.from_pandas(
        clean.reset_index(drop=True), features=datasets.Features(features), preserve_index=False
    )


def _shorten(text: str) -> str:
    return text if len(text) <= _EXAMPLE_CHARS else text[: _EXAMPLE_CHARS - 1] + "…"


def _examples(texts: pd.Series) -> list[str]:
    return [_shorten(str(t)) for t in texts.head(MAX_EXAMPLES)]

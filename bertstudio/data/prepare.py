"""From a raw table to a clean classification dataset plus a report of what was found.

Data problems never raise here: they become findings in a ValidationReport that
the app shows to the user. Only a wrong column name raises, because nothing
sensible can be reported without the columns. Work is vectorised over the few
needed columns and streamed in batches (``arrow_batches``): a million short rows
prepare in seconds, in the same memory as a thousand.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from bertstudio.data.arrow_batches import DatasetWriter, arrow_batches, frames
from bertstudio.data.columns import choose_text_column_hint, sample_profiles
from bertstudio.data.findings import Finding, no_labels_finding
from bertstudio.data.findings import count_noun as _count
from bertstudio.data.labels import is_number, normalise_label, sort_labels
from bertstudio.data.lengths import LONG_TEXTS_CHOICE
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
SWAPPED_MAX_TEXTS = 20  # a "text" column with this few different values beside one-off labels: columns swapped
MAX_DECIMAL_CLASSES = 20  # different numbers with decimals: measurements (a regression target), not classes
# Fewer usable rows than this cannot be both trained on and scored: a fifth of them is held back to measure the
# model, so 4 rows trained on 2 and reported 0% as a finished run.
MIN_TRAINING_ROWS = 10
# Errors that stop training but not evaluation: a test file may hold one class, few rows of many, or few rows.
TRAINING_ONLY_CODES = ("single_class", "too_many_classes", "numeric_labels", "too_few_rows", "one_text")
SMALL_CLASSES_LISTED = 10  # the "fewer than 5 examples" warning names this many (200 names made it several KB)
# The last rows of a spreadsheet often sum up the table ("Total, 200", "Average | 3.1"): read as examples, each made
# a class of its own. Only the last few rows are looked at, so a real text "Total" further up is never dropped.
MAX_SUMMARY_ROWS = 3
SUMMARY_WORDS = frozenset({"total", "totals", "grand total", "sub total", "subtotal", "sum", "sums", "average",
                           "averages", "avg", "mean", "median", "count", "counts", "overall", "overall total"})


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

    def raise_if_errors(self, *, scoring: bool = False) -> None:
        """Stop here (with a DataError) if the report has blocking problems. ``scoring``: the rows only score a
        model (a validation, test or evaluation file), where one class or few rows are fine."""
        errors = [f for f in self.report.errors if not (scoring and f.code in TRAINING_ONLY_CODES)]
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
    """Clean `ds` into texts + integer labels and report every data problem found.

    Streams (issue 22): one pass over the label column finds the classes, a second cleans the rows a batch at a
    time and writes the kept ones to a memory-mapped Arrow file (see ``arrow_batches``), keeping only counters,
    a few examples and one 8-byte hash per kept row (for repeated texts). Memory stays flat with the row count.
    """
    _check_columns(ds, text_col, label_col, text_pair_col)
    n_summary = trailing_summary_rows(ds, text_col, label_col)
    summary_findings = _summary_row_findings(ds, n_summary, text_col, label_col)
    ds = ds.select(range(ds.num_rows - n_summary)) if n_summary else ds
    text_cols = [text_col] + ([text_pair_col] if text_pair_col else [])
    out_cols = ["text", "text_pair"][: len(text_cols)]
    label_ids_of = _label_lookup(ds, label_col, casefold_labels)
    label_names = sort_labels(name for name in label_ids_of.values() if name is not None)
    label2id = {name: i for i, name in enumerate(label_names)}
    raw_to_id = {raw: (label2id[name] if name is not None else -1) for raw, name in label_ids_of.items()}

    features = _features(label_names, has_pair=text_pair_col is not None)
    writer = DatasetWriter(ds, features, {"text": text_col, "label": label_col, "pair": text_pair_col,
                                          "casefold": casefold_labels, "names": label_names})
    tally = _Tally(len(label_names), long_text_chars)
    try:
        for frame in frames(ds, [*text_cols, label_col]):
            texts = {col: _clean_texts(frame[col]) for col in text_cols}
            label_ids = _label_ids_of_batch(frame[label_col], raw_to_id)
            keep = tally.add(texts, label_ids, text_cols)
            kept = {out: texts[col][keep].to_numpy(dtype=object) for out, col in zip(out_cols, text_cols)}
            tally.add_kept(kept, label_ids[keep])
            writer.write({**{name: list(values) for name, values in kept.items()}, "label": label_ids[keep]})
        dataset = writer.finish()
    except BaseException:
        writer.abandon()
        raise

    findings = tally.row_findings(text_cols, label_col)
    class_counts = tally.class_counts(label_names)
    # Classes whose every row was dropped (e.g. only empty texts) are not classes.
    if any(count == 0 for count in class_counts.values()):
        label_names, dataset = _drop_empty_classes(dataset, label_names, class_counts)
        label2id = {name: i for i, name in enumerate(label_names)}
        class_counts = {name: class_counts[name] for name in label_names}

    findings += _streamed_duplicate_findings(dataset, tally.repeated_rows(), out_cols, label_names)
    if tally.n_in and not tally.any_label:  # not one label in the whole column
        findings.append(no_labels_finding(f"'{label_col}'", tally.n_in))
    else:
        findings += _swapped_columns_hint(_class_findings(class_counts, min_class_count), tally.distinct_rows(),
                                          text_col, label_col)
    findings += _combined_label_findings(class_counts)
    findings += _case_variant_findings(class_counts)
    findings += _header_as_label_findings(label_col, class_counts)
    findings += _missing_label_word_findings(class_counts)
    findings += training_size_findings(dataset, out_cols)
    findings += tally.long_text_findings()
    findings = _naming_the_text_column(findings, ds, text_col)

    report = ValidationReport(summary_findings + findings, tally.n_in + n_summary, len(dataset), class_counts)
    return PreparedData(dataset, label_names, label2id, report, text_col, label_col, text_pair_col)


def _label_lookup(ds: datasets.Dataset, label_col: str, casefold: bool) -> dict[str | None, str | None]:
    """Every distinct raw label (in order of first appearance) and what it means once normalised.

    Arrow's ``unique`` over each batch of the one column: the labels of a million rows are read in a second.
    """
    import pyarrow.compute as pc

    meaning: dict[str | None, str | None] = {}
    for batch in arrow_batches(ds, [label_col]):
        for raw in pc.unique(batch.column(label_col)).to_pylist():
            if raw not in meaning:
                meaning[raw] = normalise_label(raw, casefold=casefold)
    return meaning


def _label_ids_of_batch(column: pd.Series, raw_to_id: dict[str | None, int]) -> np.ndarray:
    """Integer label per row, -1 where the label is missing (factorised, so each distinct value is looked up once)."""
    import numpy as np
    import pandas as pd

    codes, uniques = pd.factorize(column.astype(object), use_na_sentinel=True)
    lookup = np.array([raw_to_id[u] for u in uniques] + [-1], dtype=np.int64)
    return lookup[codes]  # code -1 (missing) picks the trailing -1


class _Tally:
    """What the cleaning pass counts batch by batch, and the findings it makes of the totals.

    Holds counters, the first ``MAX_EXAMPLES`` examples of each problem and one 64-bit hash per kept row.
    """

    def __init__(self, n_classes: int, long_text_chars: int) -> None:
        import numpy as np

        self.n_in = 0
        self.any_label = False
        self.blank = self.only_text_missing = self.only_label_missing = 0
        self.missing_label_examples: list[str] = []
        self.counts = np.zeros(n_classes, dtype=np.int64)
        self.long_text_chars = long_text_chars
        self.n_long = self.longest = 0
        self.long_examples: list[str] = []
        self._hashes: list[np.ndarray] = []

    def add(self, texts: dict[str, pd.Series], label_ids: np.ndarray, text_cols: list[str]) -> np.ndarray:
        """Count one batch's incomplete rows; returns the mask of rows to keep."""
        self.n_in += len(label_ids)
        no_text = missing_text(texts)
        no_label = label_ids < 0
        self.any_label = self.any_label or bool((~no_label).any())
        self.blank += int((no_text & no_label).sum())
        self.only_text_missing += int((no_text & ~no_label).sum())
        self.only_label_missing += int((~no_text & no_label).sum())
        _add_examples(self.missing_label_examples, texts[text_cols[0]][~no_text & no_label])
        return ~(no_text | no_label)

    def add_kept(self, kept: dict[str, np.ndarray], label_ids: np.ndarray) -> None:
        import numpy as np
        import pandas as pd

        self.counts += np.bincount(label_ids, minlength=len(self.counts))
        texts = pd.Series(kept["text"], dtype=object)
        lengths = texts.str.len()
        long = lengths > self.long_text_chars
        if long.any():
            self.n_long += int(long.sum())
            self.longest = max(self.longest, int(lengths.max()))
            _add_examples(self.long_examples, texts[long])
        # The row's texts hashed together (pandas' SipHash of each value, combined per row): a 64-bit hash per row
        # finds the rows whose text may repeat; those few are then compared exactly (_streamed_duplicate_findings).
        self._hashes.append(pd.util.hash_pandas_object(pd.DataFrame(kept), index=False).to_numpy())

    def row_findings(self, text_cols: list[str], label_col: str) -> list[Finding]:
        return _incomplete_row_findings(self.blank, self.only_text_missing, self.only_label_missing,
                                        self.missing_label_examples, text_cols, label_col)

    def class_counts(self, label_names: list[str]) -> dict[str, int]:
        return {name: int(self.counts[i]) for i, name in enumerate(label_names)}

    def long_text_findings(self) -> list[Finding]:
        return _long_text_finding(self.n_long, self.longest, self.long_examples, self.long_text_chars)

    def distinct_rows(self) -> int:
        """How many different texts (with their pairs) the kept rows hold, by their hashes."""
        import numpy as np

        return len(np.unique(np.concatenate(self._hashes))) if self._hashes else 0

    def repeated_rows(self) -> np.ndarray:
        """Positions of the kept rows whose hash another kept row shares (a superset of the repeated texts)."""
        import numpy as np

        hashes = np.concatenate(self._hashes) if self._hashes else np.zeros(0, dtype=np.uint64)
        _, inverse, counts = np.unique(hashes, return_inverse=True, return_counts=True)
        return np.flatnonzero(counts[inverse] > 1)


def missing_text(texts: dict[str, pd.Series]) -> np.ndarray:
    """Rows of a batch where any of the cleaned text columns is empty."""
    import numpy as np

    no_text = np.zeros(len(next(iter(texts.values()))), dtype=bool)
    for series in texts.values():
        no_text |= series.isna().to_numpy()
    return no_text


def _add_examples(examples: list[str], texts: pd.Series) -> None:
    if len(examples) < MAX_EXAMPLES:
        examples.extend(_examples(texts)[: MAX_EXAMPLES - len(examples)])


def _streamed_duplicate_findings(dataset: datasets.Dataset, candidates: np.ndarray, text_cols: list[str],
                                 label_names: list[str]) -> list[Finding]:
    """``_duplicate_findings`` on the rows whose hash repeats: every occurrence of a repeated text is among them,
    in file order, so the counts and examples are those of the whole table (a hash collision alone repeats
    nothing once the texts themselves are compared)."""
    if not len(candidates):
        return []
    rows = dataset.select(candidates).to_pandas()
    return _duplicate_findings(rows, text_cols, label_names, n_rows=len(dataset))


def _features(label_names: list[str], *, has_pair: bool) -> datasets.Features:
    import datasets

    features = {"text": datasets.Value("string")}
    if has_pair:
        features["text_pair"] = datasets.Value("string")
    features["label"] = datasets.ClassLabel(names=label_names)
    return datasets.Features(features)


# --------------------------------------------------------------------------- steps


def trailing_summary_rows(ds: datasets.Dataset, text_col: str, label_col: str) -> int:
    """How many of the last rows sum the table up rather than being examples: a text that is a summary word
    ("Total", "Average:", any case) with a label that is a number, empty, or on no other row."""
    start = max(1, ds.num_rows - MAX_SUMMARY_ROWS)  # a file of summary rows alone keeps its first row
    tail = ds.select_columns([text_col, label_col]).select(range(start, ds.num_rows)).to_dict()
    n = 0
    for text, label in reversed(list(zip(tail[text_col], tail[label_col]))):
        if not (_is_summary_word(text) and _unlike_a_class(ds, label_col, label)):
            break
        n += 1
    return n


def _is_summary_word(text: object) -> bool:
    words = " ".join(str(text or "").replace("_", " ").replace("-", " ").split()).strip(" :.=").casefold()
    return words in SUMMARY_WORDS


def _unlike_a_class(ds: datasets.Dataset, label_col: str, label: object) -> bool:
    """A label no class looks like: a number, nothing, or a value no other row of the column has."""
    import pyarrow.compute as pc

    name = normalise_label(label)
    if name is None or is_number(name) or is_number(name.replace(",", ".", 1)):  # "3,1": a decimal comma
        return True
    same = sum(pc.sum(pc.equal(batch.column(label_col), label)).as_py() or 0
               for batch in arrow_batches(ds, [label_col]))
    return same <= 1


def _summary_row_findings(ds: datasets.Dataset, n: int, text_col: str, label_col: str) -> list[Finding]:
    if not n:
        return []
    rows = ds.select_columns([text_col, label_col]).select(range(ds.num_rows - n, ds.num_rows)).to_dict()
    shown = [", ".join(str(v) for v in (text, label) if normalise_label(v) is not None)
             for text, label in zip(rows[text_col], rows[label_col])]
    if n == 1:
        said = f"the last row '{shown[0]}': it looks like a totals row, not an example"
    else:
        said = f"the last {n} rows ({'; '.join(repr(row) for row in shown)}): they look like totals rows, not examples"
    return [Finding("info", "summary_rows", f"Left out {said}.",
                    hint="Nothing to do if it sums up the table; if it is a real example, give it one of the "
                         "classes as its label.", count=n)]


def _naming_the_text_column(findings: list[Finding], ds: datasets.Dataset, text_col: str) -> list[Finding]:
    """The "every row holds the same text" error names the column that holds texts, when the file has one (two
    columns named 'text', the first a filler: "--text" alone left the person to find 'text_2')."""
    if not any(f.code == "one_text" for f in findings):
        return findings
    hint = choose_text_column_hint(sample_profiles(ds), text_col)
    return [replace(f, hint=hint) if f.code == "one_text" else f for f in findings]


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


def _incomplete_row_findings(blank: int, only_text_missing: int, only_label_missing: int,
                             missing_label_examples: list[str], text_cols: list[str], label_col: str) -> list[Finding]:
    """Findings saying why rows without a text or a label were left out."""
    findings: list[Finding] = []
    cols = " / ".join(f"'{c}'" for c in text_cols)
    if blank:
        findings.append(Finding(
            "info", "blank_rows", f"{_count(blank, 'blank row')} (no text and no label) skipped.",
            count=blank,
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
            examples=missing_label_examples,
        ))
    return findings


def _drop_empty_classes(
    dataset: datasets.Dataset, label_names: list[str], class_counts: dict[str, int]
) -> tuple[list[str], datasets.Dataset]:
    """Renumber labels so only classes with rows remain (rare: one more pass over the kept rows)."""
    import numpy as np

    kept = [name for name in label_names if class_counts[name] > 0]
    remap = np.array([kept.index(n) if n in kept else -1 for n in label_names], dtype=np.int64)
    features = _features(kept, has_pair="text_pair" in dataset.column_names)
    dataset = dataset.map(lambda batch: {"label": remap[np.asarray(batch["label"], dtype=np.int64)]}, batched=True,
                          features=features, desc="Renumbering classes")
    return kept, dataset


def _duplicate_findings(clean: pd.DataFrame, text_cols: list[str], label_names: list[str], *,
                        n_rows: int | None = None) -> list[Finding]:
    """Repeated texts and texts with conflicting labels among ``clean``'s rows, of ``n_rows`` kept in all
    (default: ``clean`` is all of them)."""
    findings: list[Finding] = []
    repeated = clean.duplicated(subset=text_cols, keep=False)
    if not repeated.any():
        return findings
    n_extra = int(clean.duplicated(subset=text_cols).sum())
    share = n_extra / (n_rows if n_rows is not None else len(clean))
    what = "a text" if len(text_cols) == 1 else "a pair of texts"
    findings.append(Finding(
        "warning" if share >= 0.01 else "info", "duplicates",
        f"{_count(n_extra, 'row')} repeating {what} that appears earlier in the file ({share:.1%}).",
        hint=(
            "Repeated texts can land in both training and test data and make the score look better "
            "than it is; remove duplicates if they are not intended."
        ),
        count=n_extra,
        examples=_examples(clean.loc[repeated, text_cols].drop_duplicates().agg(" / ".join, axis=1)),
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
            names = _some(label_names[i] for i in sorted(set(dupes.loc[mask, "label"])))
            examples.append(f"{_shorten(text)!r} -> {names}")
        findings.append(Finding(
            "warning", "conflicting_labels",
            f"{_count(len(conflicting), 'text')} appearing more than once with different labels.",
            hint="Give each of these texts a single label (or remove the wrong rows); the model cannot learn both.",
            count=len(conflicting),
            examples=examples,
        ))
    return findings


def _some(names: Iterable[str], shown: int = 3) -> str:
    """A few names and how many more: a text given 300 different labels listed them all on one line."""
    names = list(names)
    more = f" and {len(names) - shown:,} more" if len(names) > shown else ""
    return ", ".join(_shorten(name) for name in names[:shown]) + more


def training_size_findings(dataset: datasets.Dataset, text_cols: list[str]) -> list[Finding]:
    """Errors for data a model cannot learn from or be measured on: too few rows, or one text repeated on every
    row (the labels then cannot follow from the text). Training-only (``TRAINING_ONLY_CODES``): a small
    validation or test file is still fine to score on."""
    n_rows = len(dataset)
    if n_rows == 0:
        return []  # "no usable rows" is said already
    if n_rows < MIN_TRAINING_ROWS:
        return [Finding(
            "error", "too_few_rows",
            f"Only {_count(n_rows, 'usable row')}: too few to train a model and measure it (about a fifth of the "
            "rows are held back to score it).",
            hint=f"Add more labeled rows: at least {MIN_TRAINING_ROWS} in all, and a few dozen per class for a model "
                 "worth measuring.", count=n_rows)]
    only = _the_only_text(dataset, text_cols)
    if only is not None:
        return [Finding(
            "error", "one_text",
            f"Every row holds the same text ({_shorten(only)!r}), so there is nothing that tells the classes apart.",
            hint="Check that the right text column is chosen (on the command line: --text).", count=n_rows)]
    return []


def _the_only_text(dataset: datasets.Dataset, text_cols: list[str]) -> str | None:
    """The text every row holds (with its pair, the first column's), or None when the rows differ. Streamed one
    batch at a time against the first row, so memory stays flat."""
    import pyarrow.compute as pc

    first = {col: dataset[0][col] for col in text_cols}
    for batch in arrow_batches(dataset, text_cols):
        if not all(pc.all(pc.equal(batch.column(col), first[col])).as_py() for col in text_cols):
            return None
    return first[text_cols[0]]


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
        listed = _some((f"'{name}' ({n})" for name, n in small.items()), shown=SMALL_CLASSES_LISTED)
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
            # Said whatever the settings: the automatic class weighting (and the 'imbalanced' preset) already
            # weights rare classes up at this ratio, and told to "turn it on", a person with it on looked for a switch.
            hint=(
                "Training weights the rare classes up so they count more (class weighting: automatic, or the "
                "'imbalanced' preset; 'none' turns it off). More examples of the rare classes help most."
            ),
            count=int(round(ratio)),
        ))
    return findings


def _swapped_columns_hint(findings: list[Finding], distinct_texts: int, text_col: str,
                          label_col: str) -> list[Finding]:
    """A label column of one-off values beside a text column of a few repeated ones: the two columns are the other
    way round (headers written in the wrong order), which the hint then says instead of "check --label"."""
    if distinct_texts > SWAPPED_MAX_TEXTS:
        return findings
    return [replace(f, hint=f"The columns look swapped: '{text_col}' holds only {distinct_texts:,} different "
                           f"values, like classes, and '{label_col}' a different value on most rows, like texts. "
                           f"Choose '{label_col}' as the text column and '{text_col}' as the label column (on the "
                           f"command line: --text {label_col} --label {text_col}).")
            if f.code == "too_many_classes" else f for f in findings]


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


# Label cells that usually stand for "no label" in exports (spreadsheets, databases, pandas): read as classes.
_MISSING_WORDS = frozenset({"n/a", "na", "#n/a", "null", "nil", "none", "missing", "undefined", "-", "--", "?"})


def _missing_label_word_findings(class_counts: dict[str, int]) -> list[Finding]:
    """'N/A' or 'null' as a class: most likely labels nobody gave, which then train a class of their own."""
    found = {name: n for name, n in class_counts.items() if name.strip().casefold() in _MISSING_WORDS}
    if not found:
        return []
    listed = ", ".join(f"'{name}' ({_count(n, 'row')})" for name, n in found.items())
    return [Finding(
        "warning", "missing_label_words",
        f"Some labels usually mean that no label was given: {listed}. They are trained as classes of their own.",
        hint="If those rows have no label, empty their label cells (they are then left out) or give them one; if "
             "they are real classes, nothing needs doing.",
        count=sum(found.values()),
    )]


def _header_as_label_findings(label_col: str, class_counts: dict[str, int]) -> list[Finding]:
    """A label spelt like its own column: the header row repeated inside the file (files joined together).

    Reading already handles a file that starts with data (``table_start.first_row_is_data``) and drops rows
    that repeat a CSV's or a sheet's header cell for cell; what is left is a label cell spelt like its column
    in any other way (a header repeated with another text beside it, a JSON or Parquet file joined from parts).
    """
    same = [name for name in class_counts if name.strip().casefold() == label_col.strip().casefold()]
    if not same:
        return []
    name = same[0]
    return [Finding(
        "warning", "header_as_label",
        f"The label column's name, '{label_col}', is also one of its labels ({_count(class_counts[name], 'row')}): "
        "most likely the header row repeats inside the file (files joined together), and each repeat is read "
        f"as an example of a class called '{name}'.",
        hint="Delete the repeated header rows; if that label is real, rename it or the column.",
        count=class_counts[name],
    )]


def _long_text_findings(texts: pd.Series, long_text_chars: int) -> list[Finding]:
    lengths = texts.str.len()
    long = lengths > long_text_chars
    n_long = int(long.sum())
    return _long_text_finding(n_long, int(lengths.max()) if n_long else 0, _examples(texts[long]), long_text_chars)


def _long_text_finding(n_long: int, longest: int, examples: list[str], long_text_chars: int) -> list[Finding]:
    if not n_long:
        return []
    return [Finding(
        "info", "long_texts",
        f"{_count(n_long, 'text')} longer than {long_text_chars:,} characters (longest: {longest:,}).",
        hint=(
            f"Texts longer than the maximum length in tokens are not read whole in one piece: {LONG_TEXTS_CHOICE} "
            "(the training plan says which). Split long documents whose parts have labels of their own."
        ),
        count=n_long,
        examples=examples,
    )]


def _shorten(text: str) -> str:
    return text if len(text) <= _EXAMPLE_CHARS else text[: _EXAMPLE_CHARS - 1] + "…"


def _examples(texts: pd.Series) -> list[str]:
    return [_shorten(str(t)) for t in texts.head(MAX_EXAMPLES)]

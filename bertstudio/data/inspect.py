"""Look at a data file before training: what was read, what is wrong with it, how long the texts are.

The CLI's ``inspect`` and the app's Data tab both show this.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from bertstudio.config import chosen_pair_column
from bertstudio.data import prepare
from bertstudio.data.columns import ColumnGuess, guess_columns, text_column_findings
from bertstudio.data.io import TableInfo, read_table
from bertstudio.data.findings import Finding
from bertstudio.data.lengths import token_length_stats
from bertstudio.data.markup import markup_finding
from bertstudio.data.multilabel import LabelSettings, choose_task
from bertstudio.data.multilabel_prepare import prepare_multilabel
from bertstudio.data.vocabulary import VocabularyFit, vocabulary_finding, vocabulary_fit
from bertstudio.data.workbook import unsaved_formulas_finding
from bertstudio.errors import DataError
from bertstudio.models.loading import load_tokenizer
from bertstudio.models.sources import resolve_model_source

# The text report lists this many classes with their counts; the JSON report has them all.
_CLASSES_LISTED = 30


@dataclass
class Inspection:
    table: Any  # data.TableInfo
    columns: Any  # data.ColumnGuess, with the caller's overrides applied
    prepared: Any  # data.PreparedData
    lengths: Any | None  # data.LengthStats; None when no text survived
    long_texts: Any | None = None  # data.long_texts.LongTextOutlook: what the long-text settings would do
    vocabulary: VocabularyFit | None = None  # how the tokenizer read the texts; None: no text, or a slow tokenizer

    @property
    def report(self):
        return self.prepared.report

    def to_text(self) -> str:
        lines = [self.table.describe(),
                 f"Text column: {self.columns.text}" + (f" + {self.columns.text_pair}" if self.columns.text_pair else "")
                 + f"; {self._labels_from()}."]
        lines.append(self.report.to_text())
        if self.prepared.multilabel is not None:
            lines.append(self.prepared.multilabel.to_text())
        lines.append(self._classes_line())
        if self.lengths is not None:
            p = self.lengths.percentiles
            # A random sample measures the lengths of a big file as well as every text would, in a second.
            where = f" (of a random sample of {self.lengths.n:,} texts)" if self.lengths.sampled else ""
            lines.append(f"Token lengths{where}: median {p[50]}, 95% at most {p[95]}, longest "
                         f"{self.lengths.max}. {self.lengths.reason}")
        if self.long_texts is not None:
            lines.append(self.long_texts.to_text())
        return "\n".join(lines)

    def _labels_from(self) -> str:
        """Where the labels are read, as training's first lines say it (one 0/1 column per label: every one)."""
        info = self.prepared.multilabel
        if info is not None and info.label_columns:
            return f"label columns: {', '.join(info.label_columns)}"
        return f"label column: {self.columns.label}"

    def _classes_line(self) -> str:
        counts = self.report.class_counts
        shown = ", ".join(f"{name}: {n:,}" for name, n in list(counts.items())[:_CLASSES_LISTED])
        rest = len(counts) - _CLASSES_LISTED
        more = f" and {rest:,} more (all of them: --json)" if rest > 0 else ""
        return f"Classes ({len(counts):,}): {shown}{more}"

    def to_dict(self) -> dict[str, Any]:
        return {"table": asdict(self.table), "columns": asdict(self.columns), "report": self.report.to_dict(),
                "multilabel": self.prepared.multilabel.to_dict() if self.prepared.multilabel is not None else None,
                "lengths": asdict(self.lengths) if self.lengths is not None else None,
                "long_texts": self.long_texts.to_dict() if self.long_texts is not None else None,
                "vocabulary": self.vocabulary.to_dict() if self.vocabulary is not None else None}


class LabelColumnNotFound(DataError):
    """No column of the file looks like labels; ``guess`` keeps the text column found, for the app to offer."""

    def __init__(self, guess: ColumnGuess, columns: list[str], needs: str = "training needs the class of each text"):
        self.guess = guess
        if len(columns) == 1:
            super().__init__(
                f"Could not find labels: '{columns[0]}' is the only column, and {needs}.",
                hint="Add a column with each text's class (named 'label', for example). To label new "
                "texts with a model you trained, use the Predict tab (on the command line: bertstudio predict).")
            return
        super().__init__(f"Could not tell which column holds the labels. {guess.reasons[-1]}",
                         f"Choose the label column (on the command line: --label); the columns are "
                         f"{', '.join(columns)}.")


def read_and_prepare(path: str, *, text_column: str | None = None, label_column: str | None = None,
                     text_pair_column: str | None = None, casefold_labels: bool = False,
                     labels: LabelSettings | None = None, sheet: str | None = None, role: str | None = None):
    """Read a file, apply the caller's column choices over the guesses, clean and check it.

    Returns (table, columns, prepared). Shared by ``inspect_file`` and training's ``load_inputs``.
    ``labels``: single- or multi-label and how the labels are written (default: detected from the data).
    ``sheet``: the workbook's sheet to read (default: chosen, see ``workbook``). ``role``: what the file is
    for when it is not the training file ("validation file"), named in what is said about it.
    """

    dataset, table = read_table(path, sheet=sheet)
    columns = guess_columns(dataset)
    columns.text = text_column or columns.text
    columns.label = label_column or columns.label
    columns.text_pair = chosen_pair_column(text_pair_column, columns.text_pair)
    if role is not None:
        check_columns_of(table, columns, role)
    labels = labels or LabelSettings()
    choice = choose_task(dataset, text_cols=[c for c in (columns.text, columns.text_pair) if c],
                         label_col=columns.label, task=labels.task, separator=labels.separator,
                         label_columns=labels.label_columns)
    if columns.label is None and not choice.multi_label:
        raise LabelColumnNotFound(columns, table.columns)
    if choice.multi_label:
        prepared = prepare_multilabel(dataset, choice, text_col=columns.text, label_col=columns.label,
                                      text_pair_col=columns.text_pair, casefold_labels=casefold_labels,
                                      empty_labels=labels.empty_labels, label_names=labels.label_names)
    else:
        prepared = prepare(dataset, text_col=columns.text, label_col=columns.label, text_pair_col=columns.text_pair,
                           casefold_labels=casefold_labels)
    # What reading and the column choice noticed joins the report, so every caller shows one list.
    prepared.report.findings[:0] = [*formula_findings(table, columns), *table.findings,
                                    *columns.notes(text_chosen=bool(text_column), label_chosen=bool(label_column)),
                                    *text_column_findings(dataset, columns.text), *choice.findings()]
    # Counted over every kept text (Arrow's regex, in C++), so training's data report says it too.
    markup = markup_finding(prepared.dataset)
    if markup is not None:
        prepared.report.findings.append(markup)
    return table, columns, prepared


def check_columns_of(table: TableInfo, columns: ColumnGuess, role: str) -> None:
    """Refuse a ``role`` file (validation, test) that lacks a column the training file's texts or labels are in,
    naming that file: "The text column 'text' is not in the data" sent people to the training file, which has it."""
    for what, name in (("text", columns.text), ("label", columns.label), ("second text", columns.text_pair)):
        if name and name not in table.columns:
            raise DataError(
                f"The {role} '{table.path.name}' has no column '{name}', which holds the {what} in the training "
                "file.",
                hint=f"Rename its {what} column to '{name}' (its columns are {', '.join(table.columns)}), so that "
                     f"the {role} has the training file's column names.")


def formula_findings(table: TableInfo, columns: ColumnGuess) -> list[Finding]:
    """What to say about a workbook's formulas without saved results: an error where they are the texts or the
    labels (they read as empty, and "every label is empty" sent people to fill in what Excel shows them)."""
    chosen = {columns.text, columns.label, columns.text_pair}
    return [unsaved_formulas_finding(table.path.name, column, count, chosen=column in chosen)
            for column, count in table.unsaved_formulas.items()]


def inspect_file(path: str, *, text_column: str | None = None, label_column: str | None = None,
                 text_pair_column: str | None = None, model: str = "bundled-minilm",
                 casefold_labels: bool = False, tokenizer=None, labels: LabelSettings | None = None,
                 sheet: str | None = None, measured_by: str | None = None) -> Inspection:
    """``tokenizer``: ``model``'s (loaded when not given), or, with ``measured_by``, that model's tokenizer measuring
    in its place (the app's, while ``model`` is not on this computer yet)."""
    table, columns, prepared = read_and_prepare(path, text_column=text_column, label_column=label_column,
                                                text_pair_column=text_pair_column, casefold_labels=casefold_labels,
                                                labels=labels, sheet=sheet)
    lengths = fit = None
    if len(prepared.dataset):
        if tokenizer is None:
            tokenizer = load_tokenizer(resolve_model_source(model))
        ds = prepared.dataset
        texts = ds["text"]
        pairs = ds["text_pair"] if "text_pair" in ds.column_names else None
        lengths = token_length_stats(texts, tokenizer, text_pairs=pairs)
        # What the tokenizer makes of the words, on the texts the lengths were measured on: the lengths count
        # unknown and spelled-out pieces as ordinary tokens.
        fit = vocabulary_fit(texts, tokenizer, measured_by or model, text_pairs=pairs)
        finding = vocabulary_finding(fit, chosen=model)
        if finding is not None:
            prepared.report.findings.append(finding)
    return Inspection(table, columns, prepared, lengths, vocabulary=fit)

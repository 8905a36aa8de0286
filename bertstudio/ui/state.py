"""What one page knows between events: typed dataclasses held in ``gr.State``.

Each tab writes its own dataclass and reads the others'; the training config is
built from them in one place (:func:`build_config`), so the plan shown in the
Model tab and the run started in the Train tab can never differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bertstudio.config import DEFAULT_PRESET, TrainConfig, config_from_preset, list_presets
from bertstudio.errors import DataError
from bertstudio.models.registry import DEFAULT_MODEL


@dataclass
class DataSelection:
    """The data file as the Data tab left it: columns chosen, checked, lengths measured."""

    path: str
    file_name: str
    columns: list[str]
    text_column: str
    label_column: str | None  # None: the labels come from one 0/1 column per label (``multilabel``)
    text_pair_column: str | None
    casefold_labels: bool
    # The data's suggestion until the person types a length (then ``max_length_set``); the Data tab shows the length
    # the engine's plan trains with, which on a CPU may be lower (``length_in_use``).
    max_length: int
    rows: int
    class_counts: dict[str, int]
    has_errors: bool
    errors_text: str = ""
    lengths: Any = None  # bertstudio.data.LengthStats, or None when no text survived
    table_text: str = ""  # "Read 400 rows from x.csv (CSV, ...)"
    report: Any = None  # bertstudio.data.ValidationReport
    preview: list[tuple[str, str | None, str]] = field(default_factory=list)  # first rows: text, pair, label
    model: str = DEFAULT_MODEL  # the model chosen when the lengths were measured
    tokenizer_model: str = DEFAULT_MODEL  # whose tokenizer measured them (the bundled one if that model is missing)
    tokenizer_note: str = ""  # why it is not the chosen model's, when it is not
    vocabulary: Any = None  # bertstudio.data.vocabulary.VocabularyFit: how that tokenizer read the texts
    # --- multi-label ---
    task: str = "auto"  # the person's choice; ``multilabel`` says what the data was read as
    label_separator: str | None = None
    label_columns: list[str] | None = None
    empty_labels: str = "skip"
    multilabel: Any = None  # bertstudio.data.multilabel.MultiLabelInfo, when each text has a set of labels
    # The person typed a maximum length other than the suggested one. Until then the length is automatic, as in
    # `bertstudio train`: the engine may lower it on a CPU for long texts (train/auto.decide_long_texts).
    max_length_set: bool = False
    # --- workbooks ---
    sheet: str | None = None  # the sheet read (chosen by the engine or the person); None for other files
    sheets: list[Any] = field(default_factory=list)  # bertstudio.data.workbook.SheetSize, the workbook's sheets


@dataclass(frozen=True)
class DataChoice:
    """What the Data tab restores after the page is reloaded: the file (its place inside the workspace's uploads)
    and the choices made about it. Small on purpose: the rest is measured again from the file."""

    file: str  # relative to Workspace.uploads, e.g. "20261205-044000/reviews.csv"
    text_column: str | None = None  # None: guessed again (the file was loaded but its columns not understood)
    label_column: str | None = None
    text_pair_column: str | None = None
    casefold_labels: bool = False
    task: str = "auto"
    label_separator: str | None = None
    label_columns: list[str] | None = None
    empty_labels: str = "skip"
    max_length: int | None = None  # only a length the person typed
    sheet: str | None = None  # a workbook's sheet shown (None: chosen again by the engine)

    @classmethod
    def of(cls, file: str, selection: "DataSelection | None", sheet: str | None = None) -> "DataChoice":
        """``sheet``: the sheet shown while the columns are still to be chosen (no selection yet)."""
        if selection is None:
            return cls(file, sheet=sheet)
        return cls(file, selection.text_column, selection.label_column, selection.text_pair_column,
                   selection.casefold_labels, selection.task, selection.label_separator, selection.label_columns,
                   selection.empty_labels, selection.max_length if selection.max_length_set else None,
                   selection.sheet)


@dataclass
class ModelChoice:
    """Model, preset and the advanced settings as shown (``None`` = let the engine decide)."""

    model: str = DEFAULT_MODEL
    preset: str = DEFAULT_PRESET
    settings: dict[str, Any] = field(default_factory=dict)
    # The workspace's folder of saved presets (``Workspace.presets``) when ``preset`` is one the person saved
    # (looked up there after the built-in ones); None with a built-in preset.
    saved_presets: str | None = None

    @property
    def presets_folder(self) -> Path | None:
        return Path(self.saved_presets) if self.saved_presets else None

    def preset_title(self) -> str:
        """The chosen preset's title (its name if the saved file has gone meanwhile)."""
        found = list_presets(workspace=self.presets_folder).get(self.preset)
        return found.title if found is not None else self.preset


@dataclass
class SettingsRequest:
    """Settings another tab asks the Model tab to show: a run's, or a saved preset's (every field explicit)."""

    model: str
    preset: str
    settings: dict[str, Any]
    source: str  # what they came from, for the message: "run 20260104-…", "saved settings 'fast'"


def require_data(selection: DataSelection | None) -> DataSelection:
    """The selection, or a UserError telling the person what to do first."""
    if selection is None:
        raise DataError("No data is loaded yet.", "Upload a file in the Data tab, or press “Use the sample data”.")
    if selection.has_errors:
        raise DataError(f"Your data has problems that stop training: {selection.errors_text}",
                        "Fix them in the file (or pick other columns in the Data tab) and load it again.")
    return selection


def build_config(selection: DataSelection, choice: ModelChoice) -> TrainConfig:
    """The exact config the Train tab starts: preset, then the settings shown, then the data choices."""
    return config_from_preset(
        choice.preset,
        workspace_presets=choice.presets_folder,
        **choice.settings,
        model=choice.model,
        data=selection.path,
        sheet=selection.sheet,  # the sheet the page showed, so a resumed or repeated run reads it again
        text_column=selection.text_column,
        label_column=selection.label_column,
        text_pair_column=selection.text_pair_column or "",  # what the page showed, never a new guess
        casefold_labels=selection.casefold_labels,
        max_length=selection.max_length if selection.max_length_set else None,  # None: decided as the CLI does
        **label_layout(selection),
    )


def label_layout(selection: DataSelection) -> dict[str, Any]:
    """The label layout the Data tab showed, so training reads the labels exactly as the page did."""
    info = selection.multilabel
    if info is None:
        return {"task": "single_label" if selection.task == "single_label" else "auto",
                "empty_labels": selection.empty_labels}
    return {"task": "multi_label", "label_separator": info.separator, "label_columns": info.label_columns,
            "empty_labels": selection.empty_labels}

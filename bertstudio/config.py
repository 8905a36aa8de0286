"""The one training configuration: defaults, presets, CLI flags and config.json.

Every setting lives in :class:`TrainConfig`.  The CLI builds its flags from the
fields below, the presets in ``presets/`` are partial configs validated against
it, the app reads its defaults from it, and each run saves it as
``config.json``.  A field left at ``None`` means "auto": the engine chooses
it from the data (see :mod:`bertstudio.train.auto`) and records why.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Collection
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from bertstudio.errors import ConfigError, closest_name, unknown_keys_error
from bertstudio.runs import atomic_write_json

PRESETS_DIR = Path(__file__).resolve().parent.parent / "presets"
DEFAULT_PRESET = "balanced"
# The validation context key naming presets saved in the app (``make_config(saved_presets=...)``), which a preset
# name may be besides the built-in ones.
SAVED_PRESETS = "saved_presets"
MOST_WINDOWS = 64  # max_windows' bound: a text read in 64 windows of 512 tokens already costs 64 texts' time
MAX_LENGTH = 512  # the longest input of every model in the registry (their position embeddings)


def _cli(flag: str, group: str) -> dict[str, Any]:
    return {"cli": flag, "group": group}


class TrainConfig(BaseModel):
    """All settings of one training run; ``None`` means "let the engine decide"."""

    # allow_inf_nan=False: "--lr nan" passes every bound check as NaN compares false (it was refused with
    # "should be less than 1"); now any NaN or infinite number is refused as what it is.
    model_config = ConfigDict(extra="forbid", validate_assignment=True, protected_namespaces=(), allow_inf_nan=False)

    # --- data -------------------------------------------------------------
    data: str | None = Field(None, description="Training file (CSV, TSV, JSONL, Parquet or Excel).",
                             json_schema_extra={"group": "data"})
    text_column: str | None = Field(None, description="Column holding the text (guessed if empty).",
                                    json_schema_extra=_cli("--text", "data"))
    text_pair_column: str | None = Field(None, description="Optional second text column, for sentence pairs "
                                                           "(guessed if not given; an empty value means none).",
                                         json_schema_extra=_cli("--text-pair", "data"))
    label_column: str | None = Field(None, description="Column holding the label (guessed if empty).",
                                     json_schema_extra=_cli("--label", "data"))
    sheet: str | None = Field(None, description="The sheet of an Excel file to read, by its name (auto: the "
                                                "first that holds a table of texts and labels).",
                              json_schema_extra=_cli("--sheet", "data"))
    casefold_labels: bool = Field(False, description="Treat labels that differ only in upper/lower case as the same.",
                                  json_schema_extra=_cli("--casefold-labels", "data"))
    val_file: str | None = Field(None, description="Optional validation file; otherwise split from the data.",
                                 json_schema_extra=_cli("--val", "data"))
    test_file: str | None = Field(None, description="Optional test file; otherwise split from the data.",
                                  json_schema_extra=_cli("--test", "data"))
    # --- multi-label ---
    task: Literal["auto", "single_label", "multi_label"] = Field(
        "auto", description="One label per text, or several (auto: multi-label when the label cells hold several "
                            "labels joined by a separator, or when several 0/1 columns are given).",
        json_schema_extra=_cli("--task", "data"))
    label_separator: str | None = Field(None, min_length=1, max_length=3,
                                        description="What joins several labels in one cell, e.g. ';', or '[]' for "
                                                    "cells written as lists like [\"a\", \"b\"] (auto: detected "
                                                    "from how the parts recur across rows).",
                                        json_schema_extra=_cli("--label-separator", "data"))
    label_columns: list[str] | None = Field(None, description="Several 0/1 columns, one per label, comma-separated "
                                                              "(multi-label; replaces the label column).",
                                            json_schema_extra=_cli("--label-columns", "data"))
    empty_labels: Literal["skip", "none"] = Field(
        "skip", description="Multi-label rows whose label cell is empty: skip (not labelled yet; the default) or "
                            "none (the text has no label, and the model learns that too).",
        json_schema_extra=_cli("--empty-labels", "data"))

    # --- model ------------------------------------------------------------
    model: str = Field("bundled-minilm", description="Model variant name, Hugging Face id or local folder.",
                       json_schema_extra=_cli("--model", "model"))
    preset: str = Field(DEFAULT_PRESET, description="Preset the settings started from.",
                        json_schema_extra=_cli("--preset", "model"))
    max_length: int | None = Field(None, ge=8, le=MAX_LENGTH,
                                   description="Longest text in tokens; longer texts are cut (auto: from the data).",
                                   json_schema_extra=_cli("--max-length", "model"))
    attention_dropout: float | None = Field(None, ge=0.0, lt=1.0,
                                            description="Dropout on attention weights (auto: 0 on CPU, where it "
                                                        "forces a much slower attention kernel).",
                                            json_schema_extra=_cli("--attention-dropout", "model"))
    head_dropout: float | None = Field(None, ge=0.0, lt=1.0,
                                       description="Dropout before the classifier (auto: the model's own).",
                                       json_schema_extra=_cli("--head-dropout", "model"))
    # --- long texts ---
    # What is kept of a text longer than max_length (bertstudio.data.long_texts); old config.json files without
    # these fields load as "head", what every run did before (see load()).
    long_texts: Literal["auto", "head", "tail", "head_tail", "windows"] = Field(
        "auto", description="What to keep of texts longer than the maximum length. auto: chosen from your data's "
        "lengths and the time it would take; head: the first tokens (fastest); tail: the last tokens (texts that "
        "end with their verdict); head_tail: the first and the last tokens (best for long reviews); windows: "
        "overlapping windows whose scores are combined (slowest; at most --max-windows per text, so a text longer "
        "than they cover is read only in part).",
        json_schema_extra=_cli("--long-texts", "model"))
    head_tokens: int | None = Field(None, ge=0, le=510,
                                    description="head_tail: tokens kept from the start; the rest of the maximum "
                                                "length comes from the end (auto: a quarter, as 128 of 512).",
                                    json_schema_extra=_cli("--head-tokens", "model"))
    window_stride: int | None = Field(None, ge=1, le=511,
                                      description="windows: tokens from the start of one window to the next; below "
                                                  "the maximum length, so windows overlap (auto: half a window).",
                                      json_schema_extra=_cli("--window-stride", "model"))
    window_aggregation: Literal["auto", "mean", "max"] = Field(
        "auto", description="windows: how a text's score comes from its windows' scores: mean, or max (a text is "
                            "what its strongest window says) (auto: whichever scores better on validation).",
        json_schema_extra=_cli("--window-aggregation", "model"))
    max_windows: int = Field(8, ge=1, le=MOST_WINDOWS,
                             description="windows: at most this many windows per text, so one huge text cannot "
                                         "take the time of hundreds. They read a text of up to about "
                                         "max_windows x max_length tokens whole; a longer one gets that many "
                                         "spread evenly from start to end, and the stretches between them are "
                                         "skipped (8 windows of 64 tokens read about 5% of a 10,000-token text).",
                             json_schema_extra=_cli("--max-windows", "model"))

    # --- optimisation -------------------------------------------------------
    epochs: float | None = Field(None, gt=0, le=100, description="Passes over the training data (auto: from data size).",
                                 json_schema_extra=_cli("--epochs", "training"))
    max_steps: int | None = Field(None, ge=1, description="Stop after this many optimizer steps (overrides epochs).",
                                  json_schema_extra=_cli("--max-steps", "training"))
    batch_size: int | None = Field(None, ge=1, le=2048, description="Texts per step (auto: from hardware and lengths).",
                                   json_schema_extra=_cli("--batch-size", "training"))
    grad_accum: int = Field(1, ge=1, le=256, description="Steps whose gradients are summed before each update.",
                            json_schema_extra=_cli("--grad-accum", "training"))
    lr: float | None = Field(None, gt=0, lt=1, description="Learning rate of the pre-trained encoder (auto).",
                             json_schema_extra=_cli("--lr", "training"))
    head_lr: float | None = Field(None, gt=0, lt=1, description="Learning rate of the new classifier head (auto).",
                                  json_schema_extra=_cli("--head-lr", "training"))
    tune: bool = Field(False, description="Tune for me: before training, try a few learning rates briefly and keep "
                                         "the one with the lowest validation loss (adds at most 25% to the "
                                         "training time).",
                       json_schema_extra=_cli("--tune", "training"))
    simple_model: bool = Field(True, description="Also train a simple word-count model (seconds) on the same rows: "
                                                 "the score to beat, and blended in when that clearly helps.",
                               json_schema_extra=_cli("--simple-model", "training"))
    weight_decay: float = Field(0.01, ge=0, lt=1, description="AdamW weight decay (never on biases or LayerNorm).",
                                json_schema_extra=_cli("--weight-decay", "training"))
    warmup_ratio: float = Field(0.1, ge=0, le=0.5, description="Share of steps spent warming the learning rate up.",
                                json_schema_extra=_cli("--warmup-ratio", "training"))
    max_grad_norm: float = Field(1.0, gt=0, description="Gradient clipping threshold.",
                                 json_schema_extra=_cli("--max-grad-norm", "training"))
    class_weighting: Literal["auto", "none", "balanced"] = Field(
        "auto", description="Weight the loss by inverse class frequency (auto: only when classes are imbalanced).",
        json_schema_extra=_cli("--class-weighting", "training"))
    freeze_embeddings: bool | None = Field(None, description="Keep the word embeddings fixed (auto).",
                                           json_schema_extra=_cli("--freeze-embeddings", "training"))
    freeze_layers: int | None = Field(None, ge=0, le=48, description="Keep the bottom N encoder layers and the "
                                      "embeddings fixed (auto: the bottom sixth of the layers).",
                               json_schema_extra=_cli("--freeze-layers", "training"))
    freeze_encoder: bool = Field(False, description="Train only the classifier head (fastest, for small data).",
                                 json_schema_extra=_cli("--freeze-encoder", "training"))
    length_grouping: bool = Field(True, description="Batch texts of similar length together to skip padding.",
                                  json_schema_extra=_cli("--length-grouping", "training"))
    # --- fine-tuning strategies (issue 20) ---
    pooling: Literal["cls", "cls_no_pooler", "mean"] | None = Field(
        None, description="How the text's token vectors become one: cls (the first token, through BERT's pooler), "
                          "cls_no_pooler (the first token as is) or mean (the average of all tokens; auto: the "
                          "model's own training, mean for the bundled model).",
        json_schema_extra=_cli("--pooling", "training"))
    layer_lr_decay: float | None = Field(
        None, gt=0, le=1, description="Each layer learns at this fraction of the rate of the layer above it, so "
                                      "the lower, more general layers change least (1.0: all alike; auto: from data "
                                      "size).",
        json_schema_extra=_cli("--layer-lr-decay", "training"))
    unfreezing: Literal["none", "gradual"] | None = Field(
        None, description="gradual: train the head first, then open the layers from the top down, one group per "
                          "phase (gentle on small data; auto: from data size).",
        json_schema_extra=_cli("--unfreezing", "training"))
    lora_rank: int | None = Field(
        None, ge=0, le=256, description="Train small add-on matrices (LoRA) of this rank instead of the whole "
                                        "model, plus the head (0: off; auto: from data size and model size).",
        json_schema_extra=_cli("--lora-rank", "training"))

    # --- evaluation -----------------------------------------------------------
    eval_every: int | None = Field(None, ge=1, description="Evaluate every N optimizer steps (auto: once per epoch).",
                                   json_schema_extra=_cli("--eval-every", "evaluation"))
    early_stopping_patience: int = Field(2, ge=0, le=100,
                                         description="Stop after this many evaluations without improvement (0: never).",
                                         json_schema_extra=_cli("--patience", "evaluation"))
    metric_for_best: Literal["macro_f1", "accuracy", "val_loss"] = Field(
        "macro_f1", description="Validation figure that picks the best checkpoint.",
        json_schema_extra=_cli("--metric", "evaluation"))

    # --- system -----------------------------------------------------------------
    seed: int = Field(42, ge=0, description="Random seed (same seed, same data: same split and run).",
                      json_schema_extra=_cli("--seed", "system"))
    precision: Literal["auto", "bf16", "fp16", "fp32"] = Field(
        "auto", description="Number format for training (auto: bf16 where the hardware supports it).",
        json_schema_extra=_cli("--precision", "system"))
    device: Literal["auto", "cpu", "cuda", "mps"] = Field("auto", description="Where to train (auto: GPU if present).",
                                                          json_schema_extra=_cli("--device", "system"))
    data_workers: int | None = Field(
        None, ge=0, le=32, description="Background processes that prepare training batches (auto: 2 on a GPU, so "
        "the GPU never waits for the next batch; none on a CPU, where every core is busy training).",
        json_schema_extra=_cli("--data-workers", "system"))
    compile: Literal["auto", "on", "off"] = Field(
        "auto", description="Compile the model (torch.compile) before training: faster steps on a GPU after a wait "
        "of about a minute (auto: on a GPU for runs long enough to win that minute back; never on a CPU).",
        json_schema_extra=_cli("--compile", "system"))
    output_dir: str | None = Field(None, description="Run folder (default: a new folder in --runs-dir named by the "
                                                     "time and the model, e.g. "
                                                     "runs/20261206-201919-MiniLM-L6-bundled-all-MiniLM-L6-v2).",
                                   json_schema_extra=_cli("--out", "system"))
    overwrite: bool = Field(False, description="Replace the run an earlier training left in the --out folder "
                                               "(otherwise that folder is refused, so two runs never mix).",
                            json_schema_extra=_cli("--overwrite", "system"))
    checkpoint_minutes: float = Field(
        5.0, ge=0, le=24 * 60, allow_inf_nan=False,
        description="Save a checkpoint to resume from after a crash at every epoch end and every this many minutes "
                    "(0: never; only the latest checkpoint is kept).",
        json_schema_extra=_cli("--checkpoint-minutes", "system"))
    report_to: Literal["tensorboard", "wandb", "mlflow", "trackio", "none"] = Field(
        "tensorboard", description="Experiment tracker that records the run's curves (tensorboard: files in the run "
                                   "folder; wandb, mlflow, trackio: if installed, where their own settings say).",
        json_schema_extra=_cli("--report-to", "system"))

    @field_validator("label_columns", mode="before")
    @classmethod
    def _split_label_columns(cls, value: Any) -> Any:
        """``--label-columns a,b,c`` arrives as one string."""
        return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value

    @field_validator("window_stride", mode="before")
    @classmethod
    def _stride_below_max_length(cls, value: Any, info: Any) -> Any:
        """A stride over the field's bound would only hear "at most 511": say it must stay below the maximum
        length, and which stride to choose (runs before the bound; the maximum length is validated above it)."""
        max_length = info.data.get("max_length")
        if isinstance(value, int) and isinstance(max_length, int):
            check_long_text_settings("windows", max_length, None, value)
        return value

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str, info: ValidationInfo) -> str:
        """Refuse a name that is no preset, as ``--preset`` does: a config file's or the Python API's unknown preset
        trained with the defaults and was saved as if it had been applied."""
        if value not in (info.context or {}).get(SAVED_PRESETS, ()):
            check_preset_name(value)
        return value

    @model_validator(mode="after")
    def _check_combinations(self) -> "TrainConfig":
        if self.text_pair_column is not None and self.text_pair_column == self.text_column:
            raise ValueError("text_pair_column must differ from text_column")
        if self.label_column is not None and self.label_column in (self.text_column, self.text_pair_column):
            raise ValueError("label_column must differ from the text columns")
        if self.lora_rank and self.freeze_encoder:
            raise ValueError("LoRA (lora_rank) trains small add-on parts inside the model, but head-only training "
                             "(freeze_encoder) keeps the model fixed: choose one of the two")
        return self

    @model_validator(mode="after")
    def _check_long_texts(self) -> "TrainConfig":
        check_long_text_settings(self.long_texts, self.max_length, self.head_tokens, self.window_stride)
        return self

    # --- (de)serialisation --------------------------------------------------------
    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def save(self, path: str | Path, extra: dict[str, Any] | None = None) -> None:
        atomic_write_json(Path(path), {**self.to_json_dict(), **(extra or {})})

    @classmethod
    def load(cls, path: str | Path, *, strict: bool = False,
             overrides: dict[str, Any] | None = None) -> "TrainConfig":
        """A saved config, with ``overrides`` (train's flags) over it.  ``strict`` (a file a person hands to
        ``train --config``) refuses keys that are not settings, as ``make_config`` does, instead of dropping a
        misspelt ``max_step`` without a word.

        A file of some settings (``{"preset": "head-only", "epochs": 3}``) starts from its preset's settings (the
        default preset's when it names none) with its own keys over them, as ``--preset`` does with flags.  A file
        of every setting (a run's config.json, the app's train_config.json) is read as it is: its preset only names
        where the settings started, and may be one saved in the app on another computer."""
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise ConfigError(f"{path} holds a JSON {type(raw).__name__}, not settings.",
                              "Pass a JSON object of settings, such as a run's config.json.")
        if strict:
            refuse_unknown_keys(raw, path)
        settings = {k: v for k, v in raw.items() if k in cls.model_fields}
        if is_run_record(raw):
            settings = settings_as_trained(settings)
        if holds_every_setting(raw):
            recorded = [settings["preset"]] if "preset" in settings else []
            return make_config(**{**settings, **(overrides or {})}, saved_presets=recorded)
        start = preset_of_file(settings.get("preset", DEFAULT_PRESET), path).settings
        return make_config(**{**start, **settings, **(overrides or {})})


def is_run_record(raw: dict[str, Any]) -> bool:
    """A run's own config.json (it records the run's decisions beside the settings), of any version."""
    return "decisions" in raw


def holds_every_setting(raw: dict[str, Any]) -> bool:
    """A run's config.json or the app's train_config.json: every setting written out (older runs lack the newer
    ones, which :func:`settings_as_trained` fills as those runs trained)."""
    return is_run_record(raw) or set(TrainConfig.model_fields) <= set(raw)


def settings_as_trained(settings: dict[str, Any]) -> dict[str, Any]:
    """A run's settings with those added after it was saved, as it trained: it resumes and reloads the same."""
    settings = {"long_texts": "head", **settings}  # runs from before the long-text choice cut at the head
    if "pooling" not in settings:  # a run saved before the strategies
        settings = {**STRATEGIES_BEFORE_ISSUE_20, **settings}
    return settings


def preset_of_file(name: str, path: str | Path) -> "Preset":
    """The preset a settings file names, refused with the list of presets when there is none of that name."""
    try:
        return get_preset(name)
    except ConfigError as err:
        raise ConfigError(f"The settings file {path} names the preset '{name}', which does not exist.",
                          err.hint) from None


# What a run's config.json holds beside the settings (train/pipeline.save_config): read back, never a setting.
SAVED_BESIDE_SETTINGS = frozenset({"decisions", "bertstudio_version", "label_names", "data_sizes",
                                   "data_fingerprint", "processes"})


def did_you_mean(key: object) -> str:
    """" Did you mean 'max_steps'?" for a key that is no setting but close to one; "" when none is close."""
    close = closest_name(key, TrainConfig.model_fields)
    return f" Did you mean '{close}'?" if close else ""


def refuse_unknown_keys(raw: dict[str, Any], path: str | Path) -> None:
    """A ConfigError naming the first key of ``raw`` that is no setting, with the setting it likely meant."""
    unknown = [key for key in raw if key not in TrainConfig.model_fields and key not in SAVED_BESIDE_SETTINGS]
    if unknown:
        raise unknown_keys_error(path, unknown, TrainConfig.model_fields, "setting",
                                 "Fix or remove it: the keys are the setting names a run's config.json uses (such as "
                                 "max_steps, lr, epochs).")


# Sun et al. 2019: 128 head tokens of the 510 that fit between [CLS] and [SEP] (bertstudio.data.long_texts).
HEAD_SHARE = 128 / 510


def check_long_text_settings(strategy: str, max_length: int | None, head_tokens: int | None,
                             stride: int | None, *, is_pair: bool = False) -> None:
    """Refuse combinations that cannot work, saying what to do instead (a ConfigError)."""
    if is_pair and strategy in ("tail", "head_tail", "windows"):
        raise ConfigError(f"'{strategy}' cannot be used with text pairs: it would separate one text from the part "
                          "of the other it is compared with.",
                          "Use long_texts 'head' (or 'auto') for pairs: the longer text of each pair is trimmed.")
    if max_length is None:
        return
    # A window holds max_length - 2 text tokens ([CLS] and [SEP] take two): a longer stride skips tokens.
    if stride is not None and stride > max_length - 2:
        raise ConfigError(f"A window stride of {stride} tokens is not below the maximum length ({max_length}) less "
                          "its 2 special tokens: windows would not overlap, and tokens between them would never be "
                          "read.",
                          f"Choose a stride of at most {max_length - 2}, e.g. {max(1, (max_length - 2) // 2)} (half a "
                          "window), or leave it empty for that default.")
    if head_tokens is not None and head_tokens > max_length - 2:
        raise ConfigError(f"{head_tokens} head tokens do not fit in a maximum length of {max_length} (2 tokens go "
                          "to the special markers).",
                          f"Choose at most {max_length - 2} head tokens, e.g. {round((max_length - 2) * HEAD_SHARE)},"
                          " or leave it empty for that default.")


# What every run did before the strategy settings existed (their "auto" now depends on the data): the model's own
# [CLS] head ("cls" is the native head of BERT and DistilBERT alike), one encoder learning rate, no phases, no LoRA.
STRATEGIES_BEFORE_ISSUE_20 = {"pooling": "cls", "layer_lr_decay": 1.0, "unfreezing": "none", "lora_rank": 0}


def chosen_pair_column(setting: str | None, guessed: str | None) -> str | None:
    """``None`` asks for the guess; an empty string is an explicit "no second text column"."""
    if setting is None:
        return guessed
    return setting or None


def format_validation_error(err: ValidationError) -> str:
    """One readable line per invalid field, naming the field as the user typed it."""
    parts = []
    for item in err.errors():
        field = ".".join(str(p) for p in item["loc"]) or "settings"
        flag = _flag_for(field)
        name = f"{field} ({flag})" if flag else field
        if item["type"] == "extra_forbidden":  # a setting's name mistyped (the Python API: max_step=3)
            parts.append(f"{field} is not a setting{did_you_mean(field).replace(' Did', ': did')}")
            continue
        if item["type"] == "finite_number":
            parts.append(f"{name}: {item['input']} is not a number that can be used; give a finite number")
            continue
        parts.append(f"{name}: {item['msg']}")
    said = "; ".join(parts)
    return f"Invalid setting: {said}" + ("" if said.endswith(("?", ".")) else ".")


def _flag_for(field: str) -> str | None:
    info = TrainConfig.model_fields.get(field)
    extra = (info.json_schema_extra or {}) if info else {}
    return extra.get("cli") if isinstance(extra, dict) else None


def make_config(*, saved_presets: Collection[str] = (), **values: Any) -> TrainConfig:
    """Validate ``values`` into a config, turning pydantic's errors into a ConfigError.  ``saved_presets``: names
    the preset may have besides the built-in ones (presets saved in the app)."""
    try:
        return TrainConfig.model_validate(values, context={SAVED_PRESETS: tuple(saved_presets)})
    except ValidationError as err:
        raise ConfigError(format_validation_error(err), "Fix the value and try again.") from None


# --- presets -------------------------------------------------------------------------


class Preset(BaseModel):
    """A named starting point: a partial config and a sentence saying when to use it."""

    model_config = ConfigDict(extra="forbid")

    name: str
    title: str
    use_when: str
    settings: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _settings_are_fields(self) -> "Preset":
        # A preset names no preset: checking that name would read the presets again, this one among them.
        unknown = set(self.settings) - set(TrainConfig.model_fields) | {"preset"} & set(self.settings)
        if unknown:
            raise ValueError(f"unknown settings {sorted(unknown)}")
        TrainConfig(**self.settings)  # every value must be valid on its own
        return self


def list_presets(directory: Path = PRESETS_DIR, workspace: Path | None = None) -> dict[str, Preset]:
    """The built-in presets, then those saved in ``workspace`` (a folder of the same JSON files)."""
    presets = {}
    for folder in (directory, workspace):
        for path in sorted(folder.glob("*.json")) if folder is not None and folder.is_dir() else ():
            preset = load_preset_file(path)
            presets.setdefault(preset.name, preset)  # a saved preset never replaces a built-in one
    return presets


def load_preset_file(path: Path) -> Preset:
    try:
        return Preset(**json.loads(path.read_text(encoding="utf-8")))
    except (ValidationError, json.JSONDecodeError) as err:
        raise ConfigError(f"Preset file {path.name} is invalid: {err}", "Fix or remove the file.") from None


def get_preset(name: str, directory: Path = PRESETS_DIR, workspace: Path | None = None) -> Preset:
    presets = list_presets(directory, workspace)
    if name not in presets:
        raise unknown_preset(name, presets)
    return presets[name]


def unknown_preset(name: str, names: Collection[str]) -> ConfigError:
    return ConfigError(f"Unknown preset '{name}'.", f"Choose one of: {', '.join(names)}.")


@functools.lru_cache(maxsize=1)
def builtin_preset_names() -> tuple[str, ...]:
    """The built-in presets' names, read once: every config naming a preset is checked against them."""
    return tuple(list_presets())


def check_preset_name(name: str) -> None:
    """Refuse a name that no built-in preset has, listing them (as ``--preset`` refuses it)."""
    if name not in builtin_preset_names():
        raise unknown_preset(name, builtin_preset_names())


def config_from_preset(preset: str = DEFAULT_PRESET, *, workspace_presets: Path | None = None,
                       **overrides: Any) -> TrainConfig:
    """Defaults, then the preset's settings, then the caller's explicit values (``None`` = not given).

    ``workspace_presets``: a folder of presets saved by the person (:func:`save_preset`), looked up after the
    built-in ones.
    """
    chosen = get_preset(preset, workspace=workspace_presets)
    given = {k: v for k, v in overrides.items() if v is not None}
    return make_config(**{**chosen.settings, **given, "preset": chosen.name}, saved_presets=[chosen.name])


PRESET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
# Where a run's settings say nothing about the settings themselves: the data, the folder, the preset's name.
NOT_PRESET_SETTINGS = frozenset({"data", "val_file", "test_file", "output_dir", "overwrite", "preset", "text_column",
                                 "text_pair_column", "label_column", "sheet"})


def preset_name(title: str) -> str:
    """The file name a preset titled ``title`` is saved under: "Fast, 3 epochs" -> "fast-3-epochs"."""
    return re.sub(r"[^a-z0-9]+", "-", title.strip().lower()).strip("-")[:40]


def save_preset(workspace: Path, title: str, config: TrainConfig, use_when: str = "") -> Preset:
    """Save ``config``'s settings (not its data or folder) as a preset in ``workspace``; returns it.

    Every setting is written, automatic ones as ``null``, so loading the preset gives the same config whatever
    the built-in defaults become.  Saving again under the same title replaces the earlier one.
    """
    name = preset_name(title)
    if not PRESET_NAME.match(name):
        raise ConfigError(f"'{title}' cannot name a preset.", "Use a few letters or digits, e.g. 'fast small data'.")
    if name in list_presets():
        raise ConfigError(f"'{name}' is the name of a built-in preset.", "Choose another name.")
    settings = {k: v for k, v in config.to_json_dict().items() if k not in NOT_PRESET_SETTINGS}
    preset = Preset(name=name, title=title.strip(), use_when=use_when or f"Settings saved as '{title.strip()}'.",
                    settings=settings)
    atomic_write_json(Path(workspace) / f"{name}.json", preset.model_dump(mode="json"))
    return preset

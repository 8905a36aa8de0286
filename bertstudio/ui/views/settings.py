"""The advanced settings form, generated from :class:`TrainConfig` (pure: no gradio).

Each field's help text is its config description, so the form, the CLI's
``--help`` and ``config.json`` describe a setting in the same words.  Widgets
cannot hold "auto" for every type, so values pass through :func:`to_widget` and
:func:`from_widget`: an empty number box or "auto" means ``None``.
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from bertstudio.config import TrainConfig, config_from_preset, get_preset, list_presets

# Shown in this order, grouped as in the config.
ADVANCED_FIELDS: tuple[str, ...] = (
    "epochs", "max_steps", "batch_size", "lr", "head_lr", "tune", "class_weighting", "early_stopping_patience",
    "metric_for_best", "eval_every", "freeze_encoder", "freeze_embeddings", "freeze_layers", "head_dropout",
    "weight_decay", "warmup_ratio", "max_grad_norm", "grad_accum", "length_grouping", "precision", "device", "seed",
    "long_texts", "head_tokens", "window_stride", "window_aggregation", "max_windows",
    # --- fine-tuning strategies (issue 20) ---
    "pooling", "layer_lr_decay", "unfreezing", "lora_rank",
)

LABELS: dict[str, str] = {
    "epochs": "Epochs", "max_steps": "Maximum steps", "batch_size": "Batch size",
    "lr": "Learning rate (pre-trained model)", "head_lr": "Learning rate (new classifier head)",
    "tune": "Tune the learning rate for me", "class_weighting": "Class weighting", "early_stopping_patience": "Early-stopping patience",
    "metric_for_best": "Keep the checkpoint with the best", "eval_every": "Evaluate every N steps",
    "freeze_encoder": "Train only the classifier head", "freeze_embeddings": "Freeze word embeddings",
    "freeze_layers": "Freeze the bottom N layers", "head_dropout": "Head dropout",
    "weight_decay": "Weight decay", "warmup_ratio": "Warm-up share", "max_grad_norm": "Gradient clipping",
    "grad_accum": "Gradient accumulation steps", "length_grouping": "Group texts of similar length",
    "precision": "Number precision", "device": "Device", "seed": "Random seed",
    "long_texts": "What to keep of long texts", "head_tokens": "Head tokens (head_tail)",
    "window_stride": "Window stride in tokens (windows)", "window_aggregation": "Combine windows by (windows)",
    "max_windows": "Most windows per text (windows)",
    # --- fine-tuning strategies (issue 20) ---
    "pooling": "How the text is summarised (pooling)", "layer_lr_decay": "Slower learning for lower layers",
    "unfreezing": "Open layers gradually", "lora_rank": "LoRA rank (0: off)",
}

AUTO = "auto"
YES, NO = "yes", "no"
Kind = Literal["int", "float", "choice", "checkbox", "tristate"]


@dataclass(frozen=True)
class FieldSpec:
    """How one config field appears in the form."""

    name: str
    label: str
    help: str
    kind: Kind
    optional: bool  # None ("auto") is allowed
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None


def _unwrap_optional(annotation: Any) -> tuple[Any, bool]:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else annotation), True
    return annotation, False


def _bounds(info: Any) -> tuple[float | None, float | None]:
    """(lowest, highest) value the field's constraints allow, for the number box."""
    low = high = None
    for item in info.metadata:
        low = next((v for v in (getattr(item, "ge", None), getattr(item, "gt", None)) if v is not None), low)
        high = next((v for v in (getattr(item, "le", None), getattr(item, "lt", None)) if v is not None), high)
    return low, high


def field_spec(name: str) -> FieldSpec:
    info = TrainConfig.model_fields[name]
    base, optional = _unwrap_optional(info.annotation)
    help_text = info.description or ""
    if typing.get_origin(base) is Literal:
        return FieldSpec(name, LABELS.get(name, name), help_text, "choice", optional,
                         choices=tuple(str(c) for c in typing.get_args(base)))
    if base is bool:
        if optional:
            return FieldSpec(name, LABELS.get(name, name), help_text, "tristate", True, choices=(AUTO, YES, NO))
        return FieldSpec(name, LABELS.get(name, name), help_text, "checkbox", False)
    low, high = _bounds(info)
    if optional:
        help_text += " Leave empty for automatic."
    return FieldSpec(name, LABELS.get(name, name), help_text, "int" if base is int else "float", optional,
                     minimum=low, maximum=high)


def advanced_specs() -> list[FieldSpec]:
    return [field_spec(name) for name in ADVANCED_FIELDS]


def to_widget(spec: FieldSpec, value: Any) -> Any:
    """A config value as its widget shows it."""
    if spec.kind == "tristate":
        return AUTO if value is None else (YES if value else NO)
    return value


def from_widget(spec: FieldSpec, shown: Any) -> Any:
    """What a widget holds, as a config value (``None`` = automatic)."""
    if spec.kind == "tristate":
        return None if shown in (None, AUTO) else shown == YES
    if spec.kind == "checkbox":
        return bool(shown)
    if spec.kind == "choice":
        return shown or None
    if shown is None or shown == "":
        return None
    return int(round(float(shown))) if spec.kind == "int" else float(shown)


def settings_from_widgets(specs: list[FieldSpec], shown: list[Any]) -> dict[str, Any]:
    return {spec.name: from_widget(spec, value) for spec, value in zip(specs, shown)}


def preset_settings(preset: str, saved: Path | None = None) -> tuple[dict[str, Any], str | None]:
    """The advanced settings a preset starts from, and the model it asks for (if any); ``saved``: the folder of
    the person's saved presets (looked up after the built-in ones)."""
    config = config_from_preset(preset, workspace_presets=saved)
    model = get_preset(preset, workspace=saved).settings.get("model")
    return {name: getattr(config, name) for name in ADVANCED_FIELDS}, model


def same_value(a: Any, b: Any) -> bool:
    """Whether two config values are the same setting: a number box sends 2e-05 back as 2e-05 or 0.00002."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool) \
            and not isinstance(b, bool):
        return math.isclose(a, b, rel_tol=1e-9)
    return a == b


def own_settings(specs: Sequence[FieldSpec], shown: Sequence[Any], preset: str,
                 saved: Path | None = None) -> dict[str, Any]:
    """The settings the person set themselves: those whose shown value is not what ``preset`` sets."""
    preset_values, _ = preset_settings(preset, saved)
    mine = settings_from_widgets(list(specs), list(shown))
    return {name: value for name, value in mine.items() if not same_value(value, preset_values[name])}


@dataclass(frozen=True)
class PresetSwitch:
    """The preset recommended for a new file, put in place of the one shown without losing the person's own
    settings: a recommendation is the app's choice, a typed value is theirs (a tester's 'Maximum steps 40' was
    emptied when a file's class balance switched the preset to Imbalanced)."""

    preset: str
    title: str
    values: dict[str, Any]  # every advanced setting as it is to be shown: the new preset's, the person's own on top
    kept: dict[str, Any]  # the person's own settings that differ from what the new preset sets


def switch_preset(specs: Sequence[FieldSpec], shown: Sequence[Any], current: str, recommended: str,
                  saved: Path | None = None) -> PresetSwitch:
    """Switch from ``current`` to ``recommended``, keeping every setting the person changed from ``current``."""
    own = own_settings(specs, shown, current, saved)
    values, _ = preset_settings(recommended, saved)
    kept = {name: value for name, value in own.items() if not same_value(value, values[name])}
    return PresetSwitch(recommended, get_preset(recommended, workspace=saved).title, {**values, **own}, kept)


def shown_value(value: Any) -> str:
    """A setting's value in words, as the form shows it (an empty number box is automatic)."""
    if value is None:
        return AUTO
    if isinstance(value, bool):
        return YES if value else NO
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def switch_note(switch: PresetSwitch, specs: Sequence[FieldSpec]) -> str:
    """What the Model tab says after a new file switched the preset: which preset, and which of the person's own
    settings it left as they were (plain text: it is also the toast shown in the Data tab)."""
    note = f"The preset is now {switch.title}, the one recommended for this file."
    if not switch.kept:
        return note
    labels = {spec.name: spec.label for spec in specs}
    kept = ", ".join(f"{labels[name]} {shown_value(value)}" for name, value in switch.kept.items())
    return f"{note} Your own settings stay as you set them: {kept}."


SAVED_MARK = " (saved)"


def preset_choices(saved: Path | None = None) -> list[tuple[str, str]]:
    """(title, name) of every preset the Model tab offers: the built-in ones, then those saved in ``saved``
    (``config.list_presets``, the one list the CLI and training read too), marked as saved."""
    builtin = list_presets()
    return [(preset.title if name in builtin else preset.title + SAVED_MARK, name)
            for name, preset in list_presets(workspace=saved).items()]


def settings_of_config(config: dict[str, Any]) -> dict[str, Any]:
    """The form's values for a saved config (a run's config.json, a loaded preset): the value the run used for
    each field, "auto" (None) where it has none."""
    return {name: config.get(name) for name in ADVANCED_FIELDS}

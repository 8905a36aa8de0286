"""Which pooling a classifier uses, and turning a loaded classifier into the one that pools as asked.

A model's own head decides what it reads: BERT's classifier reads [CLS] through the pooler (``cls``),
DistilBERT's reads [CLS] as is (so for DistilBERT ``cls`` and ``cls_no_pooler`` are the same head).  Any other
pooling uses the classes of :mod:`bertstudio.models.pooled_modeling`, which keep the same weight names.

In memory such a model keeps its family's config (``model_type`` "bert" or "distilbert": everything that asks
which family a model is reads that); only the saved config.json names the pooled model type, so that other
programs refuse the folder rather than read it with the wrong head.  BERT Studio opens its own folders with the
family's config (``own_config``), never by running the code saved in them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bertstudio.errors import ConfigError
from bertstudio.models import pooled_modeling
from bertstudio.models.pooled_modeling import CLASS_NAMES, CONFIG_NAMES, OWN_MODEL_TYPES, POOLING_KEY, POOLINGS

# What each family's own head reads.
NATIVE_POOLING = {"bert": "cls", "distilbert": "cls_no_pooler"}
# How a classifier with each pooling reads a text, in the words of model cards and READMEs.
POOLING_IN_WORDS = {"cls": "its [CLS] vector through BERT's pooler",
                    "cls_no_pooler": "its [CLS] vector without BERT's pooler",
                    "mean": "the mean of its token vectors"}


def model_pooling(config: Any) -> str:
    """The pooling a loaded (or saved) model's config says it uses."""
    return saved_pooling(config) or NATIVE_POOLING.get(getattr(config, "model_type", ""), "cls")


def saved_pooling(config: Any) -> str | None:
    """The pooling a model BERT Studio saved names in its config; None for any other model (its own head)."""
    found = getattr(config, POOLING_KEY, None)
    return found if found in POOLINGS else None


def reads_first_token(config: Any) -> bool:
    """Whether the classifier reads only the last layer's [CLS] vector (so nothing else of that layer is needed)."""
    return model_pooling(config) != "mean"


def is_native(model_type: str, pooling: str) -> bool:
    native = NATIVE_POOLING.get(model_type)
    return pooling == native or (model_type == "distilbert" and pooling == "cls")


def pooled_class(model_type: str, pooling: str) -> type | None:
    """The class that pools as asked; None when the family's own class already does."""
    if pooling not in POOLINGS:
        raise ConfigError(f"Unknown pooling '{pooling}'.", f"Use one of: {', '.join(POOLINGS)}.")
    if is_native(model_type, pooling):
        return None
    if model_type not in CLASS_NAMES:
        raise ConfigError(f"Pooling '{pooling}' is available for BERT and DistilBERT models, not {model_type}.",
                          "Leave pooling on automatic (the model's own) for this model.")
    return getattr(pooled_modeling, CLASS_NAMES[model_type])


def use_pooling(model, pooling: str | None):
    """``model`` (a plain BERT/DistilBERT classifier) made to pool as asked, in place; ``None`` leaves it as is.

    The pooled classes add no weights, so switching the class keeps every loaded weight where it is.
    """
    if pooling is None:
        return model
    model_type = model.config.model_type
    cls = pooled_class(model_type, pooling)
    setattr(model.config, POOLING_KEY, pooling)
    if cls is not None:
        model.__class__ = cls
        model.config.architectures = [cls.__name__]
    return model


def family_of(model_type: str) -> str:
    """The family ("bert", "distilbert") of a model type, the pooled folders' own types included."""
    return next((family for family, own in OWN_MODEL_TYPES.items() if own == model_type), model_type)


def _folder_config(folder: Path) -> dict | None:
    try:
        config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # the loader that follows reports a missing or damaged config in its own words
    return config if isinstance(config, dict) else None


def folder_class(folder: Path) -> type | None:
    """The pooled class a saved model folder needs (from its config.json); None for a plain classifier."""
    config = _folder_config(folder) or {}
    pooling = config.get(POOLING_KEY)
    if pooling is None:
        return None
    return pooled_class(family_of(str(config.get("model_type", ""))), pooling)


def own_config(folder: Path, **overrides: Any):
    """A pooled model folder's config.json read as its family's config (BertConfig, DistilBertConfig): what BERT
    Studio loads its own folders with, those saved before they named their own model type included.  None for
    any other folder (transformers reads those as usual)."""
    config = _folder_config(folder)
    if config is None or folder_class(folder) is None:
        return None
    from transformers import AutoConfig

    fields = {key: value for key, value in config.items() if key not in ("model_type", "auto_map")}
    return AutoConfig.for_model(family_of(config["model_type"]), **{**fields, **overrides})


def save_classifier(model, folder: Path) -> None:
    """``save_pretrained`` (safetensors).  A pooled model's config.json then names its own model type and config
    class: transformers opens the folder only with ``trust_remote_code=True`` (running pooled_modeling.py, saved
    beside it) and refuses it otherwise, saying so, where the family's plain class would quietly read [CLS]
    through the pooler and predict other labels."""
    model.save_pretrained(folder, safe_serialization=True)
    if folder_class(folder) is None:
        return
    path = Path(folder) / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    family = family_of(config["model_type"])
    config["model_type"] = OWN_MODEL_TYPES[family]
    config.setdefault("auto_map", {})["AutoConfig"] = f"pooled_modeling.{CONFIG_NAMES[family]}"
    path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def uses_pooler(model) -> bool:
    """Whether the classifier reads BERT's pooler (BERT with ``cls`` pooling)."""
    return getattr(model.base_model, "pooler", None) is not None and model_pooling(model.config) == "cls"


def pool_hidden(model, hidden, attention_mask):
    """The vector the head reads from the last layer's ``hidden`` states (before BERT's pooler)."""
    return pooled_modeling.pool_tokens(hidden, attention_mask, model_pooling(model.config))


def trained_pooling(source) -> str | None:
    """The pooling a model on disk was trained with: a model BERT Studio saved names it in config.json, a
    sentence-transformers model in ``1_Pooling/config.json``; None when the folder does not say (a plain BERT
    checkpoint, or a model not downloaded yet)."""
    folder = Path(getattr(source, "path_or_id", str(source)))
    saved = (_folder_config(folder) or {}).get(POOLING_KEY)
    if saved in POOLINGS:
        return saved
    path = folder / "1_Pooling" / "config.json"
    try:
        modes = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if isinstance(modes, dict) and modes.get("pooling_mode_mean_tokens"):
        return "mean"
    if isinstance(modes, dict) and modes.get("pooling_mode_cls_token"):
        return "cls_no_pooler"
    return None

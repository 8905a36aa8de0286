"""Loading tokenizers, configs and classifiers from a :class:`ModelSource`, quietly and safely."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bertstudio.errors import ConfigError, ModelError
from bertstudio.models.bundled import verify_bundled_weights
from bertstudio.models.pooling import own_config, saved_pooling, use_pooling
from bertstudio.models.registry import DEFAULT_MODEL
from bertstudio.models.sources import (
    ModelSource,
    _as_source,
    _cached_snapshot,
    _ensure_downloadable,
    _hf_cache_dir,
    as_hub_id_of_a_misspelt_name,
)

if TYPE_CHECKING:
    import torch
    from transformers import PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase
logger = logging.getLogger(__name__)


# Weights of the classification head: new for every task, so their absence is expected.
_HEAD_PREFIXES = ("classifier.", "pre_classifier.", "score.")


def _load_location(source: ModelSource) -> tuple[str, bool]:
    """(folder or hub id to load from, whether it is on disk), checking what must be checked first."""
    if source.kind == "bundled":
        verify_bundled_weights(source.path_or_id)
        return source.path_or_id, True
    if source.kind == "local":
        return source.path_or_id, True
    snapshot = _cached_snapshot(source)
    if snapshot is not None:
        return str(snapshot), True
    _ensure_downloadable(source)
    return source.path_or_id, False


def _load_failure(source: ModelSource, what: str, exc: Exception) -> ModelError:
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if "trust_remote_code" in str(exc):
        return ModelError(
            f"The model {source.display_name} needs its own program code to run, "
            "which BERT Studio never runs for safety.",
            hint=f"Pick a standard BERT-family model, for example {DEFAULT_MODEL}.",
        )
    return ModelError(
        as_hub_id_of_a_misspelt_name(source, f"Could not load the {what} of {source.display_name}: {detail}"),
        hint="Check the model name or folder. A model folder needs config.json, model.safetensors "
        "and the tokenizer files; a Hugging Face id looks like 'organisation/model-name'.",
    )


class _DropLoadReport(logging.Filter):
    """Hides transformers' load report; we check the loading info ourselves instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "LOAD REPORT" not in record.getMessage()


@contextlib.contextmanager
def _quiet_load(show_progress: bool) -> Iterator[None]:
    """Silence the load report (and, for on-disk loads, the progress bar) for one load."""
    from transformers.utils import logging as hf_logging

    report_logger = logging.getLogger("transformers.modeling_utils")
    report_filter = _DropLoadReport()
    report_logger.addFilter(report_filter)
    hide_bars = not show_progress and hf_logging.is_progress_bar_enabled()
    if hide_bars:
        hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        report_logger.removeFilter(report_filter)
        if hide_bars:
            hf_logging.enable_progress_bar()


def _is_head_key(key: str) -> bool:
    return key.startswith(_HEAD_PREFIXES)


def _warn_about_loading_info(source: ModelSource, info: Mapping[str, Any]) -> None:
    """Keep the real warnings of the load report: body weights that start random.

    A new classification head and unused pretraining heads are expected and stay quiet.
    """
    missing = sorted(k for k in info.get("missing_keys", ()) if not _is_head_key(k))
    mismatched = sorted(entry[0] for entry in info.get("mismatched_keys", ()) if not _is_head_key(entry[0]))
    unexpected = sorted(info.get("unexpected_keys", ()))
    if missing or mismatched:
        names = missing + mismatched
        shown = ", ".join(names[:5]) + (" ..." if len(names) > 5 else "")
        logger.warning(
            "%d weights of %s were not found in the checkpoint (or had the wrong shape) and start "
            "random: %s. The model may train poorly; check that this is the intended checkpoint.",
            len(names),
            source.display_name,
            shown,
        )
    if unexpected:
        logger.debug("Unused checkpoint weights of %s: %s", source.display_name, ", ".join(unexpected))


def load_tokenizer(source: ModelSource | str) -> PreTrainedTokenizerBase:
    """The tokenizer stored with the model's weights (never one from elsewhere)."""
    from transformers import AutoTokenizer

    source = _as_source(source)
    location, on_disk = _load_location(source)
    try:
        if on_disk:
            return tokenizer_in_folder(location)
        return AutoTokenizer.from_pretrained(location, trust_remote_code=False, cache_dir=_hf_cache_dir())
    except (OSError, ValueError) as exc:
        raise _load_failure(source, "tokenizer", exc) from exc


def tokenizer_in_folder(folder: str | os.PathLike[str]) -> PreTrainedTokenizerBase:
    """The tokenizer saved in a model folder.  A pooled model's config.json names a model type transformers does
    not know (see ``pooling.save_classifier``); handed its family's config, AutoTokenizer does not fall back to
    reading it blind and printing a warning about a model type "``" at every load."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder, config=own_config(Path(folder)), trust_remote_code=False,
                                         local_files_only=True)


def _validate_labels(
    num_labels: int, id2label: Mapping[int, str], label2id: Mapping[str, int]
) -> tuple[dict[int, str], dict[str, int]]:
    if num_labels < 1:
        raise ConfigError("The model needs at least one label.", hint="Check the label column of your data.")
    ids = {int(i): str(name) for i, name in id2label.items()}
    names = {str(name): int(i) for name, i in label2id.items()}
    if sorted(ids) != list(range(num_labels)) or names != {name: i for i, name in ids.items()}:
        raise ConfigError(
            f"The label names do not match the {num_labels} labels expected.",
            hint="id2label must number the labels 0..N-1 and label2id must be its exact reverse.",
        )
    return ids, names


def _apply_head_dropout(config: PretrainedConfig, head_dropout: float | None) -> None:
    """Set the dropout before the classifier (the config field differs by family)."""
    if head_dropout is None:
        return
    if not 0.0 <= head_dropout < 1.0:
        raise ConfigError(
            f"Head dropout must be between 0 and 1 (got {head_dropout}).", hint="Typical values are 0.1 to 0.3."
        )
    if hasattr(config, "seq_classif_dropout"):  # DistilBERT
        config.seq_classif_dropout = head_dropout
    else:
        config.classifier_dropout = head_dropout


def _apply_attention_dropout(config: PretrainedConfig, attention_dropout: float | None) -> None:
    if attention_dropout is None:
        return
    if hasattr(config, "attention_dropout"):  # DistilBERT
        config.attention_dropout = attention_dropout
    else:
        config.attention_probs_dropout_prob = attention_dropout


def load_model_config(source: ModelSource | str, **overrides: Any) -> PretrainedConfig:
    """The model's config.json, from the same place its weights load from (never the network when on disk)."""
    from transformers import AutoConfig

    source = _as_source(source)
    location, on_disk = _load_location(source)
    own = own_config(location, **overrides) if on_disk else None
    if own is not None:
        return own  # a model BERT Studio saved with another pooling: opened without running its saved code
    try:
        return AutoConfig.from_pretrained(location, trust_remote_code=False, local_files_only=on_disk,
                                          cache_dir=_hf_cache_dir(), **overrides)
    except (OSError, ValueError) as exc:
        raise _load_failure(source, "configuration", exc) from exc


def load_model_for_classification(
    source: ModelSource | str,
    *,
    num_labels: int,
    id2label: Mapping[int, str],
    label2id: Mapping[str, int],
    head_dropout: float | None = None,
    attention_dropout: float | None = None,
    attn_implementation: str | None = None,
    problem_type: str | None = None,
    pooling: str | None = None,
) -> PreTrainedModel:
    """The pretrained body with a fresh classification head for ``num_labels`` labels (fp32).

    ``problem_type="multi_label_classification"``: one sigmoid per label (saved in config.json, so
    ``transformers.pipeline`` returns sigmoid scores).
    ``pooling``: how the head reads the text (see :mod:`bertstudio.models.pooling`); None: the model's own (for
    a model BERT Studio saved, the pooling it was trained with)."""
    import torch
    from safetensors import SafetensorError
    from transformers import AutoModelForSequenceClassification

    ids, names = _validate_labels(num_labels, id2label, label2id)
    source = _as_source(source)
    config = load_model_config(source, num_labels=num_labels, id2label=ids, label2id=names)
    _apply_head_dropout(config, head_dropout)
    _apply_attention_dropout(config, attention_dropout)
    if problem_type:
        config.problem_type = problem_type
    location, on_disk = _load_location(source)
    common = {"trust_remote_code": False, "local_files_only": on_disk, "cache_dir": _hf_cache_dir()}
    try:
        with _quiet_load(show_progress=not on_disk):
            model, info = AutoModelForSequenceClassification.from_pretrained(
                location,
                config=config,
                dtype=torch.float32,  # training keeps fp32 master weights; autocast handles bf16
                # Never a pickle (pytorch_model.bin): unpickling runs whatever code the file carries.
                use_safetensors=True,
                # A checkpoint that already has a head (e.g. FinBERT's 3 labels) gets a new one.
                ignore_mismatched_sizes=True,
                output_loading_info=True,
                **({"attn_implementation": attn_implementation} if attn_implementation else {}),
                **common,
            )
    except (OSError, ValueError, SafetensorError) as exc:  # SafetensorError: damaged weights
        raise _load_failure(source, "model", exc) from exc
    _warn_about_loading_info(source, info)
    # A saved run read back with the family's plain class would read [CLS] through the pooler with a head
    # trained on another pooling: near-zero logits, and evaluate scored a good model at chance.
    return use_pooling(model, pooling or saved_pooling(config))


def count_parameters(model: torch.nn.Module, *, trainable_only: bool = False) -> int:
    """Number of parameters (all of them, or only those that will be trained)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def quiet_library_progress() -> None:
    """Our own progress (events, the CLI bar) is the one users see; library bars would interleave with it."""
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()

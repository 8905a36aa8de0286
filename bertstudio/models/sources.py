"""Where a model lives (bundled, a local folder, the Hub cache or the Hub) and whether it can be had now."""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bertstudio.errors import ModelError
from bertstudio.models.bundled import bundled_model_path
from bertstudio.models.registry import DEFAULT_MODEL, VARIANTS, ModelVariant, find_variant, misspelt_variant_name
from bertstudio.runs import MODEL_DIR

logger = logging.getLogger(__name__)


SourceKind = Literal["bundled", "local", "hub"]


Availability = Literal["bundled", "local", "cached", "download"]


# Long enough for a healthy connection, short enough that an offline user is not kept waiting.
HUB_PROBE_TIMEOUT_S = 2.0


CONFIG_FILE = "config.json"


SAFETENSORS_FILES = ("model.safetensors", "model.safetensors.index.json")


# Pickled weights: loading one runs whatever code its pickle carries, so a model folder is never loaded from
# them; their presence only makes the refusal name what the folder holds instead.
PICKLE_WEIGHT_FILES = ("pytorch_model.bin", "pytorch_model.bin.index.json")
NO_PICKLE = "a pickle file, which BERT Studio never loads because loading one can run any code it carries"


TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "spiece.model",
    "sentencepiece.bpe.model",
    "tokenizer.model",
)


_HUB_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


@dataclass(frozen=True)
class ModelSource:
    """Where a model's weights and tokenizer come from."""

    kind: SourceKind
    path_or_id: str  # a folder for "bundled"/"local", a hub id for "hub"
    variant: ModelVariant | None
    display_name: str


def _looks_like_path(text: str) -> bool:
    """True for things only a path would look like; "org/name" reads as a hub id."""
    if text.startswith((".", "~", "/")) or text.endswith("/"):
        return True
    if "\\" in text or re.match(r"^[A-Za-z]:", text):
        return True
    return text.count("/") > 1


def _missing_model_files(folder: Path) -> list[str]:
    """Plain-language names of the parts a loadable model folder lacks."""
    missing = []
    if not (folder / CONFIG_FILE).is_file():
        missing.append(CONFIG_FILE)
    if not _has_any(folder, SAFETENSORS_FILES):
        pickled = _pickle_only(folder)
        missing.append(f"the weights as model.safetensors (it has only {pickled}: {NO_PICKLE})" if pickled
                       else "the weights (model.safetensors)")
    if not _has_any(folder, TOKENIZER_FILES):
        missing.append("the tokenizer files (tokenizer.json or vocab.txt)")
    return missing


def _has_any(folder: Path, names: Iterable[str]) -> bool:
    return any((folder / name).is_file() for name in names)


def check_tokenizer_files(folder: Path) -> None:
    """Refuse a folder without a vocabulary: transformers would build a tokenizer that knows only its special
    tokens from tokenizer_config.json alone, and every text would get the same prediction."""
    if not _has_any(folder, TOKENIZER_FILES):
        raise ModelError(
            f"The model folder {folder} has no tokenizer files ({' or '.join(TOKENIZER_FILES[:2])}).",
            hint="Copy the tokenizer files saved with the model into the folder, or train or export it again.")


def _pickle_only(folder: Path) -> str | None:
    """The pickle file holding the folder's only weights, or None."""
    if _has_any(folder, SAFETENSORS_FILES):
        return None
    return next((name for name in PICKLE_WEIGHT_FILES if (folder / name).is_file()), None)


def check_no_pickle_only(folder: Path) -> None:
    """Refuse, by name, a folder whose only weights are a pickle."""
    pickled = _pickle_only(folder)
    if pickled:
        raise ModelError(
            f"The model folder {folder} holds its weights only as {pickled}: {NO_PICKLE}.",
            hint="Use a folder with model.safetensors (save_pretrained(safe_serialization=True)); convert the "
                 "pickle only where you trust where it came from.")


def _local_source(folder: Path, original: str) -> ModelSource:
    if not folder.is_dir():
        raise ModelError(
            f"{original} is a file, not a model folder.",
            hint="Point to the folder that contains config.json, the weights and the tokenizer files.",
        )
    missing = _missing_model_files(folder)
    if missing and not _missing_model_files(folder / MODEL_DIR):
        # A run folder (train --model runs/ag) was told it lacks weights and tokenizer: they are in its model/.
        raise ModelError(f"{original} is a run folder; the model it trained is in {Path(original) / MODEL_DIR}.",
                         hint=f"Give that folder (--model {Path(original) / MODEL_DIR}) to start from this "
                              "run's model.")
    if missing:
        raise ModelError(
            f"The folder {folder} is not a complete model; it is missing: {'; '.join(missing)}.",
            hint="A model folder needs config.json, model.safetensors and the tokenizer files "
            "(tokenizer.json or vocab.txt), as written by save_pretrained(safe_serialization=True). A folder with "
            "only pytorch_model.bin: convert it to safetensors where you trust its source, or use its Hub id.",
        )
    try:
        bundled = bundled_model_path()
    except ModelError:
        bundled = None
    if bundled is not None and folder.resolve() == bundled.resolve():
        # Same files as the bundled model: treat them as such so the weights get verified.
        return _bundled_source(VARIANTS[DEFAULT_MODEL])
    return ModelSource(kind="local", path_or_id=str(folder.resolve()), variant=None, display_name=folder.name)


def _bundled_source(variant: ModelVariant) -> ModelSource:
    return ModelSource(
        kind="bundled", path_or_id=str(bundled_model_path()), variant=variant, display_name=variant.display_name
    )


def resolve_model_source(name_or_path: str) -> ModelSource:
    """Turn what the user typed (registry key, hub id or folder) into a ModelSource.

    Registry names win over a same-named folder in the working directory; write
    ``./name`` to mean the folder.
    """
    text = str(name_or_path).strip()
    if not text:
        raise ModelError("No model was chosen.", hint=f"Use {DEFAULT_MODEL} (works offline) or a model folder.")
    variant = find_variant(text)
    if variant is not None:
        if variant.is_bundled:
            return _bundled_source(variant)
        hub_id = variant.hub_id or text
        return ModelSource(kind="hub", path_or_id=hub_id, variant=variant, display_name=variant.display_name)
    folder = Path(text).expanduser()
    if folder.exists():
        return _local_source(folder, text)
    if _looks_like_path(text):
        raise ModelError(
            f"The model folder {text} does not exist.",
            hint=f"Check the path, or pick a built-in model such as {DEFAULT_MODEL}.",
        )
    if _HUB_ID_PATTERN.match(text) and ".." not in text and "--" not in text:
        return ModelSource(kind="hub", path_or_id=text, variant=None, display_name=text)
    raise ModelError(
        f"'{text}' is neither a built-in model, a model folder, nor a Hugging Face model id.",
        hint=f"Built-in models: {', '.join(VARIANTS)}. Hugging Face ids look like 'organisation/model-name'.",
    )


def _as_source(source: ModelSource | str) -> ModelSource:
    return source if isinstance(source, ModelSource) else resolve_model_source(source)


def _hf_cache_dir() -> Path:
    """The Hugging Face hub cache, read from the environment at call time."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "huggingface" / "hub"


def _hub_ids(source: ModelSource) -> list[str]:
    """Every hub id the source may have been downloaded under (canonical and legacy)."""
    ids = [source.path_or_id]
    if source.variant is not None:
        ids += [alias for alias in source.variant.aliases if _HUB_ID_PATTERN.match(alias)]
    return list(dict.fromkeys(ids))


def _cached_snapshot(source: ModelSource) -> Path | None:
    """The cached snapshot folder holding a complete copy of a hub model, without any network."""
    from huggingface_hub import try_to_load_from_cache

    cache = _hf_cache_dir()
    for repo_id in _hub_ids(source):
        config_path = try_to_load_from_cache(repo_id, CONFIG_FILE, cache_dir=cache)
        if not isinstance(config_path, str):
            continue  # None or the "known not to exist" sentinel
        snapshot = Path(config_path).parent
        if not _missing_model_files(snapshot):
            return snapshot
    return None


def availability(key_or_source: ModelSource | str) -> Availability:
    """How a model can be obtained right now: "bundled", "local", "cached" or "download".

    Never touches the network.
    """
    source = _as_source(key_or_source)
    if source.kind in ("bundled", "local"):
        return source.kind
    return "cached" if _cached_snapshot(source) is not None else "download"


def _offline_mode() -> bool:
    return any(
        os.environ.get(name, "").strip().upper() in ("1", "ON", "YES", "TRUE")
        for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def _hub_endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def hub_reachable(timeout_s: float = HUB_PROBE_TIMEOUT_S) -> bool:
    """Whether the hub answers an HTTP(S) request within ``timeout_s`` (proxies honoured).

    A bare TCP connect is not enough: captive portals and intercepting proxies accept any
    connection, but cannot answer for huggingface.co over verified TLS.  The request runs in
    a daemon thread because a DNS lookup ignores socket timeouts and can hang far longer
    than the user should wait.
    """
    import urllib.error
    import urllib.request

    request = urllib.request.Request(_hub_endpoint(), method="HEAD")
    result: list[bool] = []

    def probe() -> None:
        try:
            with urllib.request.urlopen(request, timeout=timeout_s):
                result.append(True)
        except urllib.error.HTTPError:
            result.append(True)  # an error status still proves the server answered
        except Exception:  # any other failure only means "not reachable"
            result.append(False)

    thread = threading.Thread(target=probe, name="bertstudio-hub-probe", daemon=True)
    thread.start()
    thread.join(timeout_s)
    return bool(result and result[0])


def as_hub_id_of_a_misspelt_name(source: ModelSource, message: str) -> str:
    """``message`` about a Hub model, said as the second reading when its name is close to a built-in one: a typo
    ('bert-basee-uncased') was told only that it is not on this computer and cannot be downloaded."""
    meant = misspelt_variant_name(source.path_or_id) if source.kind == "hub" and source.variant is None else None
    if meant is None:
        return message
    return (f"'{source.path_or_id}' is not a built-in model name; did you mean {meant}? As a Hugging Face id: "
            f"{message[:1].lower()}{message[1:]}")


def _offline_error(source: ModelSource, reason: str) -> ModelError:
    folder_note = ""
    if "/" in source.path_or_id and source.variant is None:
        folder_note = f" (No folder named {source.path_or_id} exists here either.)"
    return ModelError(
        as_hub_id_of_a_misspelt_name(source, f"The model {source.display_name} is not on this computer and cannot "
                                             f"be downloaded: {reason}.{folder_note}"),
        hint=(
            f"Use the bundled model instead: bundled-minilm works offline (--model {DEFAULT_MODEL}, the default). "
            "Or use a model folder on disk: --model /path/to/folder (it needs config.json, model.safetensors "
            "and the tokenizer files, e.g. tokenizer.json or vocab.txt). "
            "To use this model, connect to the internet once so it can be downloaded."
        ),
    )


def _ensure_downloadable(source: ModelSource) -> None:
    if _offline_mode():
        raise _offline_error(source, "offline mode is switched on (HF_HUB_OFFLINE=1)")
    if not hub_reachable():
        raise _offline_error(source, "huggingface.co cannot be reached (no internet connection?)")

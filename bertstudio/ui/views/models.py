"""The model picker's cards: markdown built from the registry (pure, but for the availability look-up)."""

from __future__ import annotations

from bertstudio.errors import ModelError
from bertstudio.models.registry import ModelVariant, get_variant
from bertstudio.models.sources import availability

_AVAILABILITY_TEXT: dict[str, str] = {
    "bundled": "Bundled with BERT Studio: works offline, nothing to download.",
    "local": "A model folder on this computer.",
    "cached": "Already downloaded: works offline.",
    "download": "Needs a one-time download of about {size} MB from Hugging Face (internet required).",
}


def describe_variant(key: str) -> str:
    """Short markdown card for the model picker, saying whether the model is here now (no network)."""
    variant = get_variant(key)
    try:
        where = _AVAILABILITY_TEXT[availability(variant.key)].format(size=variant.size_mb)
    except ModelError as exc:
        where = f"Not available: {exc}"
    return variant_card(variant, where)


def variant_card(variant: ModelVariant, where: str) -> str:
    """The card of ``variant``, with ``where`` as its availability line."""
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

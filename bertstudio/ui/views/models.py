"""The model picker's cards: markdown built from the registry (pure, but for the availability look-up)."""

from __future__ import annotations

from bertstudio.data.vocabulary import VocabularyFit, model_language
from bertstudio.errors import ModelError
from bertstudio.models.registry import ModelVariant, find_variant, get_variant
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


def language_note(model: str, fit: VocabularyFit | None) -> str:
    """The Model tab's line on the chosen model and the language of the data ('' when there is nothing to say):
    the engine's judgement (``vocabulary.model_language``) in words."""
    found = model_language(fit, model)
    if found is None:
        return ""
    variant = find_variant(model)
    reads = variant.languages[0] if variant is not None else ""
    if found.verdict == "suits":
        return f"**Language:** {found.model} reads {reads}, so it suits your texts (mostly {found.texts})."
    if found.verdict == "english_texts":
        better = found.better.short_name if found.better is not None else "an English model"
        return (f"**Language:** your texts look English. {found.model} reads them, but on English alone an English "
                f"model such as {better} is usually a little more accurate.")
    trained = " was trained on English" if variant is not None and variant.english_only else " does not know them"
    measured = f": {found.measured}" if found.measured else ""
    return f"**Language:** your texts are mostly in {found.texts}, and {found.model}{trained}{measured}. " + \
        _instead(found.better)


def _instead(better: ModelVariant | None) -> str:
    if better is None:
        return "A model trained on their language will do better (its Hugging Face id, typed as another model)."
    return (f"**{better.short_name}** reads {better.languages[0]}: choose it in the list (a one-time download of "
            f"about {better.size_mb} MB).")

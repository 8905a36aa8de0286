"""The models BERT Studio offers, as data: one :class:`ModelVariant` per choice, with its architecture."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from bertstudio.errors import ModelError, closest_name

if TYPE_CHECKING:
    from transformers import PretrainedConfig
logger = logging.getLogger(__name__)


Family = Literal["bert", "distilbert"]


Speed = Literal["fastest", "fast", "medium", "slow"]


DEFAULT_MODEL = "bundled-minilm"
# The model to suggest for texts that are not in English (every other variant was trained on English alone).
MULTILINGUAL_MODEL = "bert-base-multilingual-cased"


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

    @property
    def short_name(self) -> str:
        """'MiniLM-L6' of 'MiniLM-L6 (bundled, all-MiniLM-L6-v2)': the name a sentence can carry."""
        return self.display_name.split(" (")[0]

    @property
    def english_only(self) -> bool:
        return self.languages == ("English",)


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


def short_name_of(model: str) -> str:
    """'MiniLM-L6' for a registry model (its ``short_name``), else the folder or Hugging Face id as given."""
    variant = find_variant(model)
    return variant.short_name if variant is not None else model


def find_variant(name: str) -> ModelVariant | None:
    """The registry entry named by a key, hub id or alias (any letter case), or None."""
    wanted = name.strip().lower()
    for variant in VARIANTS.values():
        names = (variant.key, variant.hub_id or "", *variant.aliases)
        if wanted in (n.lower() for n in names if n):
            return variant
    return None


# A name this alike to a registry name is taken for a misspelling of it; less alike ones are names of their own
# (roberta-base is 0.74 alike to bert-base-cased).
MISSPELT_NAME_CUTOFF = 0.8


def misspelt_variant_name(name: str) -> str | None:
    """The registry name (key, Hub id or alias) ``name`` is most likely a misspelling of ('bert-basee-uncased' ->
    'bert-base-uncased'); None when ``name`` is one, or none is close."""
    if find_variant(name) is not None:
        return None
    names = {n.lower(): n for variant in VARIANTS.values() for n in (variant.key, variant.hub_id, *variant.aliases)
             if n}
    close = closest_name(name.strip().lower(), names, cutoff=MISSPELT_NAME_CUTOFF)
    return names[close] if close else None


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

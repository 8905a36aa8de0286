"""The model picker's cards (ui/views/models.py): registry facts and where the model is now."""

from __future__ import annotations

from bertstudio.errors import ModelError
from bertstudio.models import registry
from bertstudio.ui.views import models as cards


def test_every_variant_card_shows_its_facts():
    for key, variant in registry.VARIANTS.items():
        card = cards.variant_card(variant, "Somewhere.")
        assert card.startswith(f"**{variant.display_name}**")
        assert f"{variant.layers} layers" in card and variant.speed in card
        assert card.endswith("- Availability: Somewhere.")


def test_card_says_whether_the_model_must_be_downloaded(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hf-cache"))
    assert "works offline" in cards.describe_variant("bundled-minilm")
    large = cards.describe_variant("bert-large-uncased")
    size = registry.get_variant("bert-large-uncased").size_mb
    assert f"one-time download of about {size} MB" in large


def test_card_of_an_unavailable_model_says_why(monkeypatch):
    def missing(key):
        raise ModelError("the bundled weights are damaged.")

    monkeypatch.setattr(cards, "availability", missing)
    assert "- Availability: Not available: the bundled weights are damaged." in cards.describe_variant("bundled-minilm")

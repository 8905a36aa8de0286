"""What the benchmark feeds the models: fixed-shape token batches, and realistic texts for the tokenizer.

The tokenizer is timed on English sentences joined until they are at least ``seq``
tokens long, so it does the work a real text of that length needs, and the model
on what it made: exactly (batch, seq), attention mask all ones.  Without the
tokenizer the model is timed on random token ids of that shape: that measures the
architecture at that shape, whatever the weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

# Everyday sentences of the kind users classify (reviews, support tickets, news).
SENTENCES = (
    "The parcel arrived two weeks late and the box was crushed.",
    "Great quality, I would buy this again without thinking twice.",
    "I was charged twice for the same order and nobody answers my emails.",
    "It stopped working after three days, so I asked for a refund.",
    "Customer service answered quickly and solved my problem, thank you!",
    "The colour is different from the picture but the fit is perfect.",
    "An absolutely wonderful film with a moving story and brilliant acting.",
    "The match was postponed because of heavy rain in the city on Saturday.",
    "Shares fell sharply after the company reported lower profits for the quarter.",
    "Scientists found a new species of frog in the rainforest of Ecuador.",
    "Delivery was fast, although the instructions were only in German.",
    "My account was locked after I changed the password, please help.",
    "The hotel room was clean, quiet and close to the station.",
    "Battery life is disappointing: it barely lasts half a day.",
    "The new update broke the login page on older phones.",
    "Our team won the regional final after a dramatic penalty shoot-out.",
)
# Ids above the special tokens and unused slots of BERT vocabularies ([unused*] end at 998).
FIRST_ORDINARY_ID = 999


def token_batch(batch_size: int, seq_len: int, vocab_size: int, seed: int = 0) -> dict[str, np.ndarray]:
    """int64 arrays of shape (batch, seq): random ordinary token ids, attention mask all ones, token types 0.

    Each backend takes the inputs its model needs from these (DistilBERT has no token types).
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    low = FIRST_ORDINARY_ID if vocab_size > FIRST_ORDINARY_ID + 1 else 0
    ids = rng.integers(low, vocab_size, size=(batch_size, seq_len), dtype=np.int64)
    return {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}


def tokenize_fixed(tokenizer, texts: Sequence[str], seq_len: int) -> dict[str, np.ndarray]:
    """Texts -> int64 arrays of exactly (len(texts), seq_len): cut and padded to ``seq_len``."""
    import numpy as np

    encoded = tokenizer(list(texts), truncation=True, max_length=seq_len, padding="max_length",
                        return_tensors="np")
    return {name: np.asarray(values, dtype=np.int64) for name, values in encoded.items()}


def realistic_texts(count: int, min_words: int) -> list[str]:
    """``count`` different texts of at least ``min_words`` words, built from :data:`SENTENCES`.

    Each text starts at a different sentence, so a batch holds different texts, as in real use.
    """
    texts = []
    for start in range(count):
        parts: list[str] = []
        words = 0
        i = start
        while words < min_words:
            sentence = SENTENCES[i % len(SENTENCES)]
            parts.append(sentence)
            words += len(sentence.split())
            i += 1
        texts.append(" ".join(parts))
    return texts


def texts_for_length(tokenizer, count: int, seq_len: int) -> list[str]:
    """Texts long enough to fill ``seq_len`` tokens (they are cut at ``seq_len`` when tokenized).

    English averages about 1.3 word pieces per word; starting from one word per token is always enough.
    """
    texts = realistic_texts(count, min_words=seq_len)
    shortest = min(len(ids) for ids in tokenizer(texts, truncation=False)["input_ids"])
    if shortest < seq_len:  # an unusual tokenizer that makes fewer pieces than words: add more text
        texts = realistic_texts(count, min_words=2 * seq_len)
    return texts

"""What prediction must repeat exactly as training did: ``preprocessing.json`` and the encoding of texts."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from bertstudio.data.long_texts import LongTexts, encode_long_texts, per_text
from bertstudio.errors import ModelError
from bertstudio.results import Preprocessing, read_json
from bertstudio.runs import PREPROCESSING_FILE
from bertstudio.train.batch_order import padded_length


def _labels_from_config(folder: Path) -> list[str] | None:
    path = folder / "config.json"
    if not path.is_file():
        return None
    config = read_json(path, "Save the model again with transformers' save_pretrained, or train it again.")
    id2label = (config.get("id2label") if isinstance(config, dict) else None) or {}
    return [str(id2label[k]) for k in sorted(id2label, key=int)] or None


def load_preprocessing(folder: Path) -> Preprocessing:
    """``preprocessing.json`` of a model or export folder; a plain Hugging Face folder gets safe defaults."""
    path = Path(folder) / PREPROCESSING_FILE
    if path.is_file():
        return Preprocessing.read(path)
    labels = _labels_from_config(Path(folder))
    if not labels:
        raise ModelError(f"The model in {folder} does not say which labels it predicts.",
                         hint="Use a folder saved by BERT Studio (it has preprocessing.json), "
                              "or one whose config.json has id2label.")
    return Preprocessing(label_names=labels)


def encode(tokenizer, texts: Sequence[str], pairs: Sequence[str] | None, prep: Preprocessing) -> dict[str, list]:
    """Token ids without padding, cut exactly as in training.

    Long texts kept as training kept them (``prep.long_texts``): with windows there are several rows per text,
    and ``text_row`` says which text each is from (:func:`per_text_logits` combines them).
    """
    kept = LongTexts.of(prep)
    if not kept.plain_cut:
        return encode_long_texts(tokenizer, texts, kept)
    return tokenizer(list(texts), list(pairs) if pairs is not None else None, truncation=prep.truncation,
                     max_length=prep.max_length, padding=False)


def pad_batch(encoded: dict[str, list], rows: Sequence[int], pad_id: int,
              buckets: Sequence[int] = ()) -> dict[str, np.ndarray]:
    """Rows ``rows`` of ``encoded`` padded to their own longest (or the first of ``buckets`` that holds it): int64
    arrays for any backend."""
    width = padded_length(max(len(encoded["input_ids"][i]) for i in rows), None, buckets)
    batch = {"input_ids": np.full((len(rows), width), pad_id, dtype=np.int64),
             "attention_mask": np.zeros((len(rows), width), dtype=np.int64)}
    has_types = "token_type_ids" in encoded
    if has_types:
        batch["token_type_ids"] = np.zeros((len(rows), width), dtype=np.int64)
    for out, i in enumerate(rows):
        ids = encoded["input_ids"][i]
        batch["input_ids"][out, :len(ids)] = ids
        batch["attention_mask"][out, :len(ids)] = 1
        if has_types:
            batch["token_type_ids"][out, :len(ids)] = encoded["token_type_ids"][i]
    return batch


def per_text_logits(logits: np.ndarray, encoded: dict[str, list], prep: Preprocessing) -> np.ndarray:
    """One row of logits per text: the rows of :func:`encode`, windows combined as training chose."""
    rows = encoded.get("text_row")
    return per_text(logits, np.asarray(rows) if rows is not None else None, prep.window_aggregation)

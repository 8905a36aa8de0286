"""What prediction must repeat exactly as training did: ``preprocessing.json`` and the encoding of texts."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from bertstudio.errors import ModelError
from bertstudio.runs import PREPROCESSING_FILE


@dataclass(frozen=True)
class Preprocessing:
    """What inference must repeat exactly as training did (read from ``preprocessing.json``)."""

    label_names: list[str]
    max_length: int
    text_pair: bool = False
    temperature: float = 1.0
    truncation: str = "longest_first"
    text_column: str | None = None
    text_pair_column: str | None = None
    base_model: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)  # the whole file, so exports can copy it unchanged

    def to_dict(self) -> dict[str, Any]:
        known = {"label_names": self.label_names, "max_length": self.max_length, "text_pair": self.text_pair,
                 "temperature": self.temperature, "truncation": self.truncation, "text_column": self.text_column,
                 "text_pair_column": self.text_pair_column, "base_model": self.base_model}
        return {**self.raw, **known}


def _labels_from_config(folder: Path) -> list[str] | None:
    path = folder / "config.json"
    if not path.is_file():
        return None
    id2label = json.loads(path.read_text(encoding="utf-8")).get("id2label") or {}
    return [str(id2label[k]) for k in sorted(id2label, key=int)] or None


def load_preprocessing(folder: Path) -> Preprocessing:
    """``preprocessing.json`` of a model or export folder; a plain Hugging Face folder gets safe defaults."""
    path = Path(folder) / PREPROCESSING_FILE
    raw = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    labels = raw.get("label_names") or _labels_from_config(Path(folder))
    if not labels:
        raise ModelError(f"The model in {folder} does not say which labels it predicts.",
                         hint="Use a folder saved by BERT Studio (it has preprocessing.json), "
                              "or one whose config.json has id2label.")
    temperature = float(raw.get("temperature") or 1.0)
    if not math.isfinite(temperature) or temperature <= 0:
        raise ModelError(f"preprocessing.json in {folder} has an unusable temperature ({temperature}).",
                         hint="Set \"temperature\" to a positive number (1.0 means no calibration).")
    return Preprocessing(label_names=[str(n) for n in labels], max_length=int(raw.get("max_length") or 512),
                         text_pair=bool(raw.get("text_pair", False)), temperature=temperature,
                         truncation=str(raw.get("truncation") or "longest_first"),
                         text_column=raw.get("text_column"), text_pair_column=raw.get("text_pair_column"),
                         base_model=raw.get("base_model"), raw=raw)


def encode(tokenizer, texts: Sequence[str], pairs: Sequence[str] | None, prep: Preprocessing) -> dict[str, list]:
    """Token ids without padding, cut exactly as in training."""
    return tokenizer(list(texts), list(pairs) if pairs is not None else None, truncation=prep.truncation,
                     max_length=prep.max_length, padding=False)


def pad_batch(encoded: dict[str, list], rows: Sequence[int], pad_id: int) -> dict[str, np.ndarray]:
    """Rows ``rows`` of ``encoded`` padded to their own longest: int64 arrays for any backend."""
    width = max(len(encoded["input_ids"][i]) for i in rows)
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

"""BERT and DistilBERT classifiers that read the text through another pooling: [CLS] without BERT's pooler, or
the mean of the token vectors.

This file stands alone (torch and transformers only, no BERT Studio import): saving a model of these classes
copies it next to the weights and writes ``auto_map`` into config.json, so a model folder or Hugging Face
export loads anywhere with ``transformers.pipeline(..., trust_remote_code=True)``.  BERT Studio itself loads
the classes from this module (never from a model folder).  The weights keep the plain classifiers' names, but
config.json names a model type of its own (``OWN_MODEL_TYPES``, with its config class here): opened without
``trust_remote_code``, transformers refuses the folder and says why, where a plain ``BertForSequenceClassification``
would load the same weights and silently pool with [CLS] + pooler, predicting other labels.  The classes are
built on first use (``__getattr__`` below): importing this module does not import transformers.
"""

from __future__ import annotations

from typing import Any

import torch

POOLING_KEY = "bertstudio_pooling"  # the config.json field that names the pooling
POOLINGS = ("cls", "cls_no_pooler", "mean")
CLASS_NAMES = {"bert": "PooledBertForSequenceClassification", "distilbert": "PooledDistilBertForSequenceClassification"}
# The model type a saved pooled model's config.json names, per family, and its config class (the family's own).
OWN_MODEL_TYPES = {"bert": "bertstudio_bert", "distilbert": "bertstudio_distilbert"}
CONFIG_NAMES = {"bert": "PooledBertConfig", "distilbert": "PooledDistilBertConfig"}


def pool_tokens(hidden: torch.Tensor, attention_mask: torch.Tensor | None, pooling: str) -> torch.Tensor:
    """One vector per text: the mean over the real (unpadded) tokens, or the first token ([CLS])."""
    if pooling != "mean":
        return hidden[:, 0]
    if attention_mask is None:
        return hidden.mean(dim=1)
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


def _loss(config: Any, logits: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor | None:
    """The loss the plain classifiers compute (single-label, multi-label or regression)."""
    from torch.nn import functional as F

    if labels is None:
        return None
    if config.problem_type == "multi_label_classification" or (labels.dtype.is_floating_point and logits.shape[-1] > 1):
        return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
    if logits.shape[-1] == 1:
        return F.mse_loss(logits.squeeze(-1), labels.to(logits.dtype).squeeze(-1))
    return F.cross_entropy(logits.view(-1, logits.shape[-1]), labels.view(-1))


def _build_classes() -> dict[str, type]:
    from transformers import (BertConfig, BertForSequenceClassification, DistilBertConfig,
                              DistilBertForSequenceClassification)
    from transformers.modeling_outputs import SequenceClassifierOutput

    class PooledBertConfig(BertConfig):
        """BERT's settings under a model type of its own, which transformers only opens with this file."""

        model_type = OWN_MODEL_TYPES["bert"]

    class PooledDistilBertConfig(DistilBertConfig):
        model_type = OWN_MODEL_TYPES["distilbert"]

    class PooledBertForSequenceClassification(BertForSequenceClassification):
        """BERT whose classifier reads the pooling named in ``config.bertstudio_pooling``."""

        config_class = PooledBertConfig

        def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None, **kwargs):
            kwargs.pop("return_dict", None)  # callers such as peft pass it; the output is always an object
            hidden = self.bert(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                               return_dict=True, **kwargs).last_hidden_state
            pooling = getattr(self.config, POOLING_KEY, "cls")
            pooled = pool_tokens(hidden, attention_mask, pooling)
            if pooling == "cls":
                pooled = self.bert.pooler.activation(self.bert.pooler.dense(pooled))
            logits = self.classifier(self.dropout(pooled))
            return SequenceClassifierOutput(loss=_loss(self.config, logits, labels), logits=logits)

    class PooledDistilBertForSequenceClassification(DistilBertForSequenceClassification):
        """DistilBERT whose head (pre_classifier, ReLU, classifier) reads the pooling named in the config."""

        config_class = PooledDistilBertConfig

        def forward(self, input_ids=None, attention_mask=None, labels=None, **kwargs):
            kwargs.pop("return_dict", None)
            hidden = self.distilbert(input_ids, attention_mask=attention_mask, return_dict=True,
                                     **kwargs).last_hidden_state
            pooled = pool_tokens(hidden, attention_mask, getattr(self.config, POOLING_KEY, "cls"))
            logits = self.classifier(self.dropout(torch.relu(self.pre_classifier(pooled))))
            return SequenceClassifierOutput(loss=_loss(self.config, logits, labels), logits=logits)

    models = (PooledBertForSequenceClassification, PooledDistilBertForSequenceClassification)
    for cls in models:
        # save_pretrained then copies this file beside the weights and writes auto_map into config.json.
        cls.register_for_auto_class("AutoModelForSequenceClassification")
    return {cls.__name__: cls for cls in (*models, PooledBertConfig, PooledDistilBertConfig)}


_CLASSES: dict[str, type] = {}


def __getattr__(name: str) -> type:
    if name in CLASS_NAMES.values() or name in CONFIG_NAMES.values():
        if not _CLASSES:
            _CLASSES.update(_build_classes())
        return _CLASSES[name]
    raise AttributeError(name)

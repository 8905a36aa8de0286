"""Training with several labels per text: one sigmoid per label, binary cross-entropy, positive-class weights.

The loop and the pipeline tell the task from the labels' shape (a 0/1 vector per row: multi-label) and call
these functions; everything else (batches, schedule, checkpoints, early stopping) is shared.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from bertstudio.evaluation.multilabel_metrics import is_multi_label

if TYPE_CHECKING:
    import torch

PROBLEM_TYPE = "multi_label_classification"
# Positive-class weights: sqrt(negatives / positives) per label, at most MAX_POS_WEIGHT.  The full ratio
# (sklearn's "balanced") pushes a label seen in 1% of the rows to weight 99 and floods every prediction with
# it; the square root keeps rare labels heard while the tuned thresholds set the final trade-off.
MAX_POS_WEIGHT = 10.0
# Auto turns the weights on when the rarest label is in fewer than this share of the training rows.
RARE_LABEL_SHARE = 0.05


def label_counts(labels: np.ndarray, n_labels: int) -> np.ndarray:
    """Rows per class (single-label ids) or positives per label (multi-label vectors)."""
    labels = np.asarray(labels)
    if is_multi_label(labels):
        return labels.reshape(len(labels), n_labels).sum(axis=0).astype(np.int64)
    return np.bincount(labels.astype(np.int64), minlength=n_labels)


def positive_weights(labels: np.ndarray, mode: str) -> torch.Tensor | None:
    import torch

    if mode != "balanced":
        return None
    y = np.asarray(labels, dtype=np.float64)
    positives = np.maximum(y.sum(axis=0), 1.0)
    weights = np.clip(np.sqrt((len(y) - positives) / positives), 1.0, MAX_POS_WEIGHT)
    return torch.tensor(weights, dtype=torch.float32)


def weighting_decision(label_counts_by_name: dict[str, int], train_rows: int) -> tuple[str, str]:
    """class_weighting for multi-label data, and why."""
    if not label_counts_by_name or not train_rows:
        return "none", "No labels to weigh."
    rarest = min(label_counts_by_name, key=label_counts_by_name.__getitem__)
    share = label_counts_by_name[rarest] / train_rows
    if share < RARE_LABEL_SHARE:
        return "balanced", (f"The rarest label ('{rarest}') is on {share:.1%} of the texts, so each label's "
                            f"positive examples weigh sqrt(negatives/positives) (at most {MAX_POS_WEIGHT:g}x): rare "
                            "labels are not drowned out by the texts without them.")
    return "none", (f"Every label is on at least {RARE_LABEL_SHARE:.0%} of the texts, so positive and negative "
                    "examples count the same.")


def summed_bce(logits: torch.Tensor, labels: torch.Tensor, pos_weight: torch.Tensor | None) -> torch.Tensor:
    """Binary cross-entropy summed over rows, averaged over labels (the loop divides by the rows)."""
    import torch.nn.functional as F

    loss = F.binary_cross_entropy_with_logits(logits.float(), labels.float(), pos_weight=pos_weight,
                                              reduction="sum")
    return loss / logits.shape[-1]



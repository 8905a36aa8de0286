"""Every figure of a classifier's quality, from true labels and predicted probabilities.

The training loop's figures (:func:`classification_metrics`: accuracy, F1s, per-class report,
confusion matrix) and what an honest evaluation also needs: log loss,
the row-normalised confusion matrix, and ranking quality (ROC-AUC, PR-AUC) one
class against the rest.  Everything here is a pure function of arrays and
returns JSON-ready values, so the CLI, eval.json and the app share it.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Mapping, Sequence

import numpy as np

from bertstudio.errors import DataError

if TYPE_CHECKING:
    import pandas as pd


# scikit-learn's fit warns when a file has more classes than half its rows ("`y` could represent a regression
# problem"): on the training console, in its words, about what the data check already says in plain ones.
_MANY_CLASSES_WARNING = r"The number of unique classes is greater than 50% of the number of samples"


@contextlib.contextmanager
def many_classes_warning_silenced() -> Iterator[None]:
    """scikit-learn's fits inside, without its many-classes warning (and only that one)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_MANY_CLASSES_WARNING, category=UserWarning)
        yield


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Probabilities from logits divided by ``temperature`` (float64, numerically stable)."""
    scaled = np.asarray(logits, dtype=np.float64) / temperature
    scaled -= scaled.max(axis=-1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=-1, keepdims=True)


def cross_entropy(probs: np.ndarray, labels: np.ndarray) -> float:
    picked = probs[np.arange(len(labels)), labels]
    return float(-np.log(np.clip(picked, 1e-12, 1.0)).mean()) if len(labels) else float("nan")


def classification_metrics(labels: Sequence[int], probs: np.ndarray, label_names: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro/micro/weighted F1, per-class report and confusion matrix.

    Macro-F1 is the headline: on imbalanced data a model that ignores the rare
    classes still scores high accuracy, but not high macro-F1. It averages the classes that have rows here
    (:func:`scored_classes`): a class without rows has no recall to measure, so its F1 would be 0 or undefined
    whatever the model does (a perfect model scored 0.667 on a file without one of its three classes, and two
    stray predictions of the missing class moved a tester's score by 19 points). Those classes are listed in
    ``left_out``, and ``left_out_predicted`` counts the rows the model gave each of them: those rows are
    already misses of their true classes.
    """
    from sklearn.metrics import confusion_matrix, f1_score, precision_recall_fscore_support

    y = np.asarray(labels, dtype=np.int64)
    pred = probs.argmax(axis=-1) if len(y) else np.zeros(0, dtype=np.int64)
    ids = list(range(len(label_names)))
    precision, recall, f1, support = precision_recall_fscore_support(y, pred, labels=ids, zero_division=0)
    scored = scored_classes(y, len(label_names))
    return {
        "accuracy": float((pred == y).mean()) if len(y) else float("nan"),
        "macro_f1": float(f1_score(y, pred, labels=scored or ids, average="macro", zero_division=0)),
        "micro_f1": float(f1_score(y, pred, labels=ids, average="micro", zero_division=0)),
        "weighted_f1": float(f1_score(y, pred, labels=ids, average="weighted", zero_division=0)),
        "loss": cross_entropy(probs, y),
        "per_class": {
            name: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                   "support": int(support[i])}
            for i, name in enumerate(label_names)
        },
        "labels": list(label_names),
        "left_out": [name for i, name in enumerate(label_names) if i not in scored],
        "left_out_predicted": left_out_predictions(np.bincount(pred, minlength=len(ids)), scored, label_names),
        "confusion_matrix": confusion_matrix(y, pred, labels=ids).tolist(),
        "rows": int(len(y)),
    }


def scored_classes(y: np.ndarray, n_classes: int) -> list[int]:
    """The classes a macro average scores on these rows: those with at least one row (a class's F1 needs rows of
    it; predictions of a class without rows are already misses of the rows' true classes)."""
    present = set(np.asarray(y).tolist())
    return [i for i in range(n_classes) if i in present]


def left_out_predictions(predicted_counts: Sequence[int], scored: Sequence[int],
                         label_names: Sequence[str]) -> dict[str, int]:
    """How many rows the model gave each left-out class, for the classes it gave any (the note says so)."""
    kept = set(scored)
    return {name: int(predicted_counts[i]) for i, name in enumerate(label_names)
            if i not in kept and predicted_counts[i] > 0}


def _listed(names: Sequence[str]) -> str:
    shown = ", ".join(f"'{name}'" for name in names[:10])
    return shown + (f" and {len(names) - 10} more" if len(names) > 10 else "")


def left_out_note(names: Sequence[str], predicted: Mapping[str, int] | None = None, *,
                  multi_label: bool = False) -> str:
    """Why macro-F1 does not count some classes, in words (``classification_metrics``' ``left_out``), and how many
    rows the model gave them anyway (``left_out_predicted``), so stray predictions are not hidden."""
    rows, what, one = ("texts", "labels", "label") if multi_label else ("rows", "classes", "class")
    have = "have" if multi_label else "belong to"
    note = (f"no {rows} here {have} {_listed(names)}, so macro-F1 averages the other {what} "
            f"(a {one} without {rows} has no F1 to average)")
    given = [(name, count) for name, count in (predicted or {}).items() if count]
    if not given:
        return note + "."
    verb = "gave" if multi_label else "predicted"
    parts = [f"'{name}' {'to' if multi_label else 'for'} {count:,} {rows if count != 1 else rows[:-1]}"
             for name, count in given]
    counted = ("they count as mistakes in subset accuracy, Hamming loss and micro-F1" if multi_label
               else "they count as misses of those rows' true classes")
    return f"{note}; the model {verb} {' and '.join(parts)}: {counted}."


Z_95 = 1.959963984540054  # the normal quantile of a two-sided 95% range


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The 95% range of a share observed as ``successes`` of ``n`` (Wilson's score interval). The textbook
    p +- 1.96 sqrt(p(1-p)/n) shrinks to nothing at 0% or 100% and leaves 0-1 on a few texts (4 of 4 right: "100% to
    100%"); Wilson's stays inside and honest there (51% to 100%). (0.0, 1.0) for no texts: nothing is known."""
    if n <= 0:
        return 0.0, 1.0
    share = successes / n
    z2 = z * z
    centre = (share + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * np.sqrt(share * (1 - share) / n + z2 / (4 * n * n))
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def log_loss(labels: Sequence[int], probs: np.ndarray) -> float:
    """Mean negative log-probability of the true class (natural log; probabilities clipped at 1e-12)."""
    return cross_entropy(np.asarray(probs, dtype=np.float64), np.asarray(labels, dtype=np.int64))


def normalize_rows(matrix: np.ndarray) -> np.ndarray:
    """Each row divided by its total; a class with no rows gets a row of zeros rather than NaN."""
    matrix = np.asarray(matrix, dtype=np.float64)
    totals = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)


def _one_vs_rest_scores(labels: np.ndarray, probs: np.ndarray) -> tuple[list[float | None], list[float | None]]:
    """ROC-AUC and average precision of each class against the rest.

    A class needs both positive and negative rows for either area to mean
    anything; otherwise its score is None (not 0, which would read as "terrible").
    """
    from sklearn.metrics import average_precision_score, roc_auc_score

    roc: list[float | None] = []
    pr: list[float | None] = []
    for cls in range(probs.shape[1]):
        is_cls = labels == cls
        if is_cls.all() or not is_cls.any():
            roc.append(None)
            pr.append(None)
            continue
        roc.append(float(roc_auc_score(is_cls, probs[:, cls])))
        pr.append(float(average_precision_score(is_cls, probs[:, cls])))
    return roc, pr


def _mean_defined(values: list[float | None]) -> float | None:
    defined = [v for v in values if v is not None]
    return float(np.mean(defined)) if defined else None


def ranking_scores(labels: Sequence[int], probs: np.ndarray) -> dict[str, Any]:
    """Headline and per-class ROC-AUC and PR-AUC (average precision).

    Binary: the scores of the second class (index 1) as the positive one, as is
    conventional.  Multi-class: the macro mean over the classes that have both
    positive and negative rows; classes absent from ``labels`` are left out, not
    counted as zero.
    """
    y = np.asarray(labels, dtype=np.int64)
    p = np.asarray(probs, dtype=np.float64)
    roc, pr = _one_vs_rest_scores(y, p)
    if p.shape[1] == 2:
        return {"roc_auc": roc[1], "pr_auc": pr[1], "roc_auc_per_class": roc, "pr_auc_per_class": pr}
    return {"roc_auc": _mean_defined(roc), "pr_auc": _mean_defined(pr), "roc_auc_per_class": roc,
            "pr_auc_per_class": pr}


def evaluation_metrics(labels: Sequence[int], probs: np.ndarray, label_names: Sequence[str]) -> dict[str, Any]:
    """Everything :func:`classification_metrics` gives, plus log loss, the normalised confusion
    matrix and ROC/PR areas (overall and in each per-class entry)."""
    y = np.asarray(labels, dtype=np.int64)
    p = np.asarray(probs, dtype=np.float64)
    if len(y) == 0:
        raise DataError("There are no rows to evaluate.", "Evaluate on a file or split that has labeled rows.")
    result = classification_metrics(y, p, label_names)
    ranking = ranking_scores(y, p)
    for i, name in enumerate(label_names):
        result["per_class"][name]["roc_auc"] = ranking["roc_auc_per_class"][i]
        result["per_class"][name]["pr_auc"] = ranking["pr_auc_per_class"][i]
    result["log_loss"] = log_loss(y, p)
    result["confusion_matrix_normalized"] = normalize_rows(np.asarray(result["confusion_matrix"])).tolist()
    result["roc_auc"] = ranking["roc_auc"]
    result["pr_auc"] = ranking["pr_auc"]
    return result


# --- tables for the app --------------------------------------------------------------------------


def per_class_frame(metrics: dict[str, Any]) -> pd.DataFrame:
    """One row per class: precision, recall, F1, support (and the ROC/PR areas when present)."""
    import pandas as pd

    frame = pd.DataFrame.from_dict(metrics["per_class"], orient="index")
    frame.index.name = "label"
    return frame.reset_index()


def confusion_frame(metrics: dict[str, Any], *, normalized: bool = False) -> pd.DataFrame:
    """The confusion matrix with true labels as rows and predicted labels as columns."""
    import pandas as pd

    key = "confusion_matrix_normalized" if normalized else "confusion_matrix"
    matrix = metrics.get(key)
    if matrix is None:  # an older summary without the normalised matrix
        matrix = normalize_rows(np.asarray(metrics["confusion_matrix"])).tolist()
    labels = list(metrics["labels"])
    frame = pd.DataFrame(matrix, index=pd.Index(labels, name="true"), columns=labels)
    frame.columns.name = "predicted"
    return frame

"""The simple model every run is measured against: word and character n-gram counts (TF-IDF) and a linear
classifier.

It trains in seconds on a CPU and on some data sets (distinctive vocabulary, short texts) matches a fine-tuned
transformer, which a person cannot know in advance. Its whole state is arrays and word lists, saved as
``word_counts.json`` + ``word_counts.safetensors`` (never pickle), so it ships beside the fine-tuned model in
every export and loads without running code from the file.

Features: word 1-2 grams and character 2-5 grams inside word boundaries (the character grams catch spelling
variants, hashtags and inflections that whole words miss), each sublinear TF-IDF, L2-normalised per block and
concatenated. Classifier: multinomial logistic regression, whose probabilities can be blended with the
fine-tuned model's (see ``bertstudio.evaluation.blend``).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from bertstudio.errors import ModelError
from bertstudio.evaluation.metrics import many_classes_warning_silenced, softmax
from bertstudio.evaluation.multilabel_metrics import sigmoid
from bertstudio.hardware import usable_cores
from bertstudio.runs import atomic_write_json

WEIGHTS_FILE = "word_counts.safetensors"
INFO_FILE = "word_counts.json"
FORMAT_VERSION = 1
PAIR_JOINER = " [SEP] "  # a sentence pair becomes one text; the marker keeps the two halves' words apart

# Sizes that keep fitting within seconds on 2 cores for up to ~100k short texts (the caps bound the long tail:
# the IMDb reviews, ~1,300 characters each, are the slowest of the shared sets).
MAX_TRAIN_ROWS = 100_000
MAX_WORD_FEATURES = 100_000
MAX_CHAR_FEATURES = 100_000
SHORT_TEXT_CHARS = 400
REGULARISATION_C = 10.0  # TF-IDF rows are unit-length and sparse: weak regularisation fits them best
# Above this many texts the kept terms are chosen on an evenly spaced sample of this size and the texts are counted
# this many at a time. Counting all texts at once holds every n-gram occurrence in Python arrays first: 50,000
# ticket texts took 590 MB above the process's own, which pushed a million-row run past 2 GB (issue 22).
VOCABULARY_ROWS = 20_000
COUNT_CHUNK_ROWS = 5_000


@dataclass(frozen=True)
class Block:
    """One kind of n-gram: how texts are cut into terms, and the terms kept with their idf."""

    analyzer: str  # "word" or "char_wb"
    ngram_range: tuple[int, int]
    terms: list[str] = field(default_factory=list)
    idf: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def _cutting(self) -> dict[str, Any]:
        """How texts are cut into terms: the same for fitting, counting and predicting."""
        return dict(analyzer=self.analyzer, ngram_range=self.ngram_range, strip_accents="unicode", lowercase=True,
                    dtype=np.float32)

    def vectorizer(self, **fit_options: Any):
        from sklearn.feature_extraction.text import TfidfVectorizer

        return TfidfVectorizer(sublinear_tf=True, **self._cutting(), **fit_options)

    def counter(self, **options: Any):
        from sklearn.feature_extraction.text import CountVectorizer

        return CountVectorizer(**self._cutting(), **options)

    @functools.cached_property
    def _fixed_counter(self):
        # Built once per loaded model: building it checks and indexes every kept term (100,000 of them), which was
        # most of a one-text prediction's 9-60 ms; now 1.2-2.6 ms (bench/word_count_latency.py).
        return self.counter(vocabulary=self.terms)

    def features(self, texts: Sequence[str]):
        """Sublinear TF-IDF rows, L2-normalised: the fitted vectorizer's arithmetic, rebuilt from saved state."""
        from sklearn.preprocessing import normalize

        tf = self._fixed_counter.transform(texts)
        tf.data = np.log(tf.data) + 1  # sublinear tf, as TfidfVectorizer(sublinear_tf=True)
        return normalize(tf.multiply(self.idf.astype(np.float32)).tocsr())


def fit_features(texts: Sequence[str]) -> tuple[list[Block], Any]:
    """The blocks for ``texts`` (``blocks_for``) fitted on them, and the texts' feature rows (CSR), as
    ``TfidfVectorizer.fit_transform`` per block, each block L2-normalised, side by side."""
    import scipy.sparse as sp

    if len(texts) > VOCABULARY_ROWS:
        return _fit_features_in_chunks(texts)
    fitted, matrices = [], []
    for block, max_features in blocks_for(texts):
        vectorizer = block.vectorizer(max_features=max_features)
        matrices.append(vectorizer.fit_transform(texts))
        fitted.append(Block(block.analyzer, block.ngram_range, list(vectorizer.get_feature_names_out()),
                            vectorizer.idf_.astype(np.float32)))
    return fitted, sp.hstack(matrices, format="csr")


def _fit_features_in_chunks(texts: Sequence[str]) -> tuple[list[Block], Any]:
    """``fit_features`` in bounded memory: each block keeps the most frequent terms of an evenly spaced sample of
    VOCABULARY_ROWS texts, its idf counts every text, and the rows are weighted in place chunk by chunk, so the
    only full-size matrix is the result, filled in place (50,000 ticket texts: 398 MB above the process's own
    at the peak, against 590 MB counted at once)."""
    import scipy.sparse as sp

    step = len(texts) / VOCABULARY_ROWS
    sample = [texts[int(i * step)] for i in range(VOCABULARY_ROWS)]
    chunks = [texts[i:i + COUNT_CHUNK_ROWS] for i in range(0, len(texts), COUNT_CHUNK_ROWS)]
    fitted, counts = [], []
    for block, max_features in blocks_for(texts):
        fixed = block.counter(vocabulary=block.counter(max_features=max_features).fit(sample).vocabulary_)
        counted = [fixed.transform(chunk) for chunk in chunks]
        document_frequency = sum(np.bincount(c.indices, minlength=c.shape[1]) for c in counted)
        # TfidfVectorizer's smoothed idf: as if one more text held every term once.
        idf = (np.log((1 + len(texts)) / (1 + document_frequency)) + 1).astype(np.float32)
        fitted.append(Block(block.analyzer, block.ngram_range, list(fixed.get_feature_names_out()), idf))
        counts.append(counted)
    # The result is filled in place as each chunk's counts are let go: stacking the finished chunks would hold
    # every row twice at the end.
    nnz = sum(chunk.nnz for counted in counts for chunk in counted)
    data, indices = np.empty(nnz, dtype=np.float32), np.empty(nnz, dtype=np.int32)
    indptr = np.zeros(len(texts) + 1, dtype=np.int64 if nnz > np.iinfo(np.int32).max else np.int32)
    filled, first_row = 0, 0
    for i in range(len(chunks)):
        parts = [_weigh_in_place(counted[i], block.idf) for counted, block in zip(counts, fitted)]
        for counted in counts:
            counted[i] = None
        rows = sp.hstack(parts, format="csr")
        data[filled:filled + rows.nnz], indices[filled:filled + rows.nnz] = rows.data, rows.indices
        indptr[first_row + 1:first_row + rows.shape[0] + 1] = rows.indptr[1:] + filled
        filled, first_row = filled + rows.nnz, first_row + rows.shape[0]
    width = sum(len(block.terms) for block in fitted)
    return fitted, sp.csr_matrix((data, indices, indptr), shape=(len(texts), width))


def _weigh_in_place(counts, idf: np.ndarray):
    """Sublinear TF-IDF, L2-normalised rows, written over the counts (CSR)."""
    from sklearn.preprocessing import normalize

    np.log(counts.data, out=counts.data)
    counts.data += 1
    counts.data *= idf[counts.indices]
    return normalize(counts, copy=False)


def training_sample(n_rows: int, seed: int, max_rows: int = MAX_TRAIN_ROWS) -> np.ndarray | None:
    """The rows ``WordCountModel.fit`` trains on when given ``n_rows`` (sorted positions), or None for all of them;
    ``max_rows``: a smaller sample (what a run fits beside its training steps).

    A caller holding a big memory-mapped split takes these rows before reading any text: a million texts as
    Python strings are ~300 MB, of which the fit would keep a tenth.
    """
    if n_rows <= max_rows:
        return None
    return np.sort(np.random.default_rng(seed).choice(n_rows, max_rows, replace=False))


def blocks_for(texts: Sequence[str]) -> list[tuple[Block, int]]:
    """Word 1-2 grams always; character 2-5 grams for short texts only (median under SHORT_TEXT_CHARS).

    Character grams help where texts are short (spelling variants, inflections, hashtags) and cost the most
    where they are long: on IMDb reviews (~1,300 characters) they tripled the fit time for no accuracy.
    """
    blocks = [(Block("word", (1, 2)), MAX_WORD_FEATURES)]
    if texts and float(np.median([len(t) for t in texts])) < SHORT_TEXT_CHARS:
        blocks.append((Block("char_wb", (2, 5)), MAX_CHAR_FEATURES))
    return blocks


def joined_texts(texts: Sequence[str], pairs: Sequence[str] | None) -> list[str]:
    """One string per row: a pair's halves joined, None and NaN read as empty text."""
    first = ["" if t is None else str(t) for t in texts]
    if pairs is None:
        return first
    return [a + PAIR_JOINER + ("" if b is None else str(b)) for a, b in zip(first, pairs)]


@dataclass
class WordCountModel:
    """TF-IDF word and character n-grams with a multinomial logistic regression on top."""

    label_names: list[str]
    blocks: list[Block]
    coef: np.ndarray  # (classes, features)
    intercept: np.ndarray  # (classes,)
    train_rows: int = 0
    # Several labels per text: one logistic regression per label (one-vs-rest), sigmoid probabilities.
    multi_label: bool = False

    @classmethod
    def fit(cls, texts: Sequence[str], labels: Sequence[int], label_names: Sequence[str], *,
            seed: int = 42, threads: int | None = None) -> "WordCountModel":
        """Fit on at most MAX_TRAIN_ROWS rows (a random sample beyond that: the model saturates well before).
        ``threads``: how many labels of a multi-label model fit at once (default: one per core)."""
        from sklearn.linear_model import LogisticRegression

        y = np.asarray(labels, dtype=np.int64)
        texts = list(texts)
        keep = training_sample(len(texts), seed)
        if keep is not None:
            texts, y = [texts[i] for i in keep], y[keep]
        blocks, features = fit_features(texts)
        if y.ndim == 2:
            coef, intercept = fit_one_vs_rest(features, y, threads)
            return cls(list(label_names), blocks, coef, intercept, train_rows=len(texts),
                       multi_label=True)
        # Newton-CG converges in a handful of iterations on sparse TF-IDF rows where L-BFGS needs ten times longer.
        classifier = LogisticRegression(C=REGULARISATION_C, solver="newton-cg", max_iter=1000)
        with many_classes_warning_silenced():
            classifier.fit(features, y)
        coef = np.zeros((len(label_names), features.shape[1]), dtype=np.float32)
        intercept = np.full(len(label_names), -1e4, dtype=np.float32)  # a class absent from training: never
        if len(classifier.classes_) == 2 and classifier.coef_.shape[0] == 1:  # binary: one row for class 1
            coef[classifier.classes_] = np.vstack([-classifier.coef_[0] / 2, classifier.coef_[0] / 2])
            intercept[classifier.classes_] = [-classifier.intercept_[0] / 2, classifier.intercept_[0] / 2]
        else:
            coef[classifier.classes_] = classifier.coef_
            intercept[classifier.classes_] = classifier.intercept_
        return cls(list(label_names), blocks, coef, intercept, train_rows=len(texts))

    def features(self, texts: Sequence[str]):
        import scipy.sparse as sp

        return sp.hstack([block.features(texts) for block in self.blocks]).tocsr()

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray(self.features(texts) @ self.coef.T) + self.intercept

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        return sigmoid(self.logits(texts)) if self.multi_label else softmax(self.logits(texts))

    # --- files ------------------------------------------------------------------------------------

    def save(self, folder: Path) -> None:
        from safetensors.numpy import save_file

        folder.mkdir(parents=True, exist_ok=True)
        tensors = {"coef": self.coef, "intercept": self.intercept}
        tensors.update({f"idf_{i}": block.idf for i, block in enumerate(self.blocks)})
        tmp = folder / f".{WEIGHTS_FILE}.tmp"
        save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()}, str(tmp))
        tmp.replace(folder / WEIGHTS_FILE)
        atomic_write_json(folder / INFO_FILE, {
            "format_version": FORMAT_VERSION, "label_names": self.label_names, "train_rows": self.train_rows,
            "multi_label": self.multi_label,
            "blocks": [{"analyzer": b.analyzer, "ngram_range": list(b.ngram_range), "terms": b.terms}
                       for b in self.blocks]})

    @classmethod
    def load(cls, folder: Path) -> "WordCountModel":
        from safetensors.numpy import load_file

        info_path, weights_path = folder / INFO_FILE, folder / WEIGHTS_FILE
        if not info_path.is_file() or not weights_path.is_file():
            raise ModelError(f"{folder} has no simple word-count model ({INFO_FILE} and {WEIGHTS_FILE}).",
                             "Export the run again, or predict without the blend.")
        try:
            info = json.loads(info_path.read_text(encoding="utf-8"))
            tensors = load_file(str(weights_path))
            blocks = [Block(b["analyzer"], tuple(b["ngram_range"]), list(b["terms"]), tensors[f"idf_{i}"])
                      for i, b in enumerate(info["blocks"])]
            model = cls(list(info["label_names"]), blocks, tensors["coef"], tensors["intercept"],
                        int(info.get("train_rows", 0)), bool(info.get("multi_label", False)))
        except (ValueError, KeyError, TypeError) as err:
            raise ModelError(f"The word-count model in {folder} is damaged ({err}).",
                             "Export the run again to rewrite it.") from err
        if model.coef.shape != (len(model.label_names), sum(len(b.terms) for b in blocks)):
            raise ModelError(f"The word-count model in {folder} does not fit together (weights of another size).",
                             "Export the run again to rewrite it.")
        return model


def fit_one_vs_rest(features, y: np.ndarray, threads: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """One binary logistic regression per label on the same features: (coef, intercept), labels x features.

    A label that is on every training text or on none cannot be fitted; it gets the constant that says so.
    The labels are fitted side by side, one per core: the solver's sparse products release the interpreter,
    so GoEmotions' 28 labels (43,410 texts) fit in 30.0 s on 2 cores against 60.7 s one by one, the same
    weights (bench/multilabel_simple_fit.py): time a multi-label run waits before its first step.
    """
    from concurrent.futures import ThreadPoolExecutor

    from sklearn.linear_model import LogisticRegression

    coef = np.zeros((y.shape[1], features.shape[1]), dtype=np.float32)
    intercept = np.zeros(y.shape[1], dtype=np.float32)

    def fit_label(j: int) -> None:
        column = y[:, j]
        if column.min() == column.max():
            intercept[j] = 10.0 if column.max() else -10.0
            return
        classifier = LogisticRegression(C=REGULARISATION_C, solver="newton-cg", max_iter=1000)
        classifier.fit(features, column)
        coef[j], intercept[j] = classifier.coef_[0], classifier.intercept_[0]

    with ThreadPoolExecutor(max_workers=max(1, min(threads or usable_cores(), y.shape[1]))) as pool:
        list(pool.map(fit_label, range(y.shape[1])))  # list(): a fit's error is raised here
    return coef, intercept

"""A simple word-count model trained beside every run: the score the fine-tuned model has to beat.

Before the first training step the simple model (``bertstudio.models.word_counts``) is fitted on the same
training rows and scored on the same validation rows, in seconds; the Train tab draws its score as a line on the
validation chart and the CLI prints it with the plan. After training, the two models' validation probabilities
decide whether a blend of both is the run's final model (``bertstudio.evaluation.blend``), and the summary says in
one sentence which model to use.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from bertstudio.data.arrow_batches import column_array, column_values
from bertstudio.evaluation.blend import BlendChoice, blend_probabilities, choose_blend, verdict
from bertstudio.evaluation.metrics import classification_metrics
from bertstudio.evaluation.multilabel_metrics import is_multi_label, multilabel_metrics
from bertstudio.events import SimpleModelScored, Step, Working
from bertstudio.models.word_counts import MAX_TRAIN_ROWS, WordCountModel, joined_texts, training_sample
from bertstudio.results import SimpleModelFigures
from bertstudio.train.speedups.allocator import release_freed_memory


def split_texts(dataset) -> list[str]:
    """The texts of a split as the simple model reads them (a pair's halves joined)."""
    pairs = column_values(dataset, "text_pair") if "text_pair" in dataset.column_names else None
    return joined_texts(column_values(dataset, "text"), pairs)


@dataclass
class SimpleModelRun:
    """The fitted simple model and its probabilities on the validation rows."""

    model: WordCountModel
    validation_probs: np.ndarray
    seconds: float  # fitting and scoring validation

    def probabilities(self, dataset) -> tuple[np.ndarray, float]:
        """(probabilities on ``dataset``, seconds it took)."""
        start = time.perf_counter()
        probs = self.model.probabilities(split_texts(dataset))
        return probs, time.perf_counter() - start


def fit_simple_model(train, validation, label_names: list[str], seed: int, max_rows: int = MAX_TRAIN_ROWS,
                     threads: int | None = None) -> tuple[SimpleModelRun, SimpleModelScored] | None:
    """Fit on the training split, score on validation; the event carries the score the Train tab draws.
    ``threads``: see ``WordCountModel.fit``.

    None when the texts give a word-count model nothing to count (no word in any text, e.g. long runs of
    symbols): the comparison is skipped, the fine-tuned model trains as ever.
    """
    start = time.perf_counter()
    sample = training_sample(len(train), seed, max_rows)  # the rows to fit on, taken before the texts are read
    if sample is not None:
        train = train.select(sample)
    try:
        model = WordCountModel.fit(split_texts(train), column_array(train, "label"), label_names, seed=seed,
                                   threads=threads)
    except ValueError:  # sklearn: "empty vocabulary; perhaps the documents only contain stop words"
        return None
    val_probs = model.probabilities(split_texts(validation))
    seconds = time.perf_counter() - start
    val_labels = column_array(validation, "label")
    scores = (multilabel_metrics(val_labels, val_probs, label_names) if is_multi_label(val_labels)
              else classification_metrics(val_labels, val_probs, label_names))
    event = SimpleModelScored(accuracy=scores["accuracy"], macro_f1=scores["macro_f1"], seconds=round(seconds, 2),
                              train_rows=model.train_rows, val_rows=len(validation))
    return SimpleModelRun(model, val_probs, seconds), event


# Training splits from which the simple model is fitted on a thread beside the first training steps instead of
# before them, on a GPU: the CPU is free while the GPU computes. Fitted first, it held the first step of
# bench/scale.py's 100k file back 56 s on a quiet-ish machine (fitting 95,000 rows then).
BESIDE_TRAINING_FROM_ROWS = 50_000
# A run's simple model fits on at most this many rows. 95,000 rows of the benchmark's tickets took 1,160 MB above
# the process's own (50,000: 720 MB; 398 MB now that they are counted in chunks), and fitted beside a 100k run's
# steps they pushed the run to 2,167 MB (the 2 GB target). 50,000 rows fit in half the time (27 s against 52 s) and
# scored the same on those tickets (99.58% against 99.48% on 5,000 held-out ones).
RUN_MAX_ROWS = 50_000


def fits_beside_training(train_rows: int, device_type: str) -> bool:
    """Whether a run fits its simple model beside its training steps rather than before them.

    Never on a CPU: there the fit and the steps share the same cores (and the fit's Python holds the interpreter
    lock the training loop needs), so training is no sooner done, and the fit's memory adds to training's. A
    million-row run peaked at 2,205 MB with it beside its first 10 steps against the 2 GB target (issue 22).
    """
    return device_type != "cpu" and train_rows >= BESIDE_TRAINING_FROM_ROWS


def fitted_rows(train_rows: int) -> int:
    """How many training rows the simple model of a run with ``train_rows`` fits on (what its time depends on)."""
    return min(train_rows, RUN_MAX_ROWS)


def fitting_phase(rows: int) -> str:
    return f"Fitting the simple word-count model (the score to beat) on {rows:,} training texts"


class SimpleModelFit:
    """The simple model of a run: fitted at once, or on a thread beside training for a big split on a GPU.

    The thread starts once the first training step is done: started with it, it held that step back (the time
    from "started" to the first step of a 100k run went from 9.3 s to 13.5 s on the shared machine), and that
    step is what a person waits for. Its scored event goes out from the run's own thread, ahead of the first
    event the run emits once the fit is done (a training step comes every second or so), so the run's record
    keeps a single writer.
    """

    def __init__(self, train, validation, label_names: list[str], seed: int, device_type: str = "cpu"):
        self.beside_training = fits_beside_training(len(train), device_type)
        # Beside training the fit shares the interpreter with the loop that launches the GPU's work: one thread,
        # so a multi-label model's labels do not crowd it out; before training, a thread per core.
        threads = 1 if self.beside_training else None
        self._fit = lambda: fit_simple_model(train, validation, label_names, seed, fitted_rows(len(train)),
                                             threads)
        self._outcome: tuple[SimpleModelRun, SimpleModelScored] | None = None
        self._error: BaseException | None = None
        self._announced = False
        self._thread = threading.Thread(target=self._run, name="simple-model", daemon=True)

    @classmethod
    def begin(cls, train, validation, label_names: list[str], seed: int, emit: Callable[[Any], None],
              device_type: str = "cpu") -> SimpleModelFit:
        """Fit now (small splits, and every split on a CPU: the line is there before the first step), or later
        beside training (big ones on a GPU)."""
        fit = cls(train, validation, label_names, seed, device_type)
        if fit.beside_training:
            return fit
        # One event before a fit of seconds to a minute or two (50,000 rows of a 300,000-row file: 55 s on a quiet
        # 2-core machine, 121 s on a busy one), so the console and the page say what the wait is for.
        emit(Working(phase=fitting_phase(fitted_rows(len(train))), done=0, total=0))
        fit._outcome = fit._fit()
        # The fit's freed counts stay in the C heap unless handed back (50,000 tickets: 128 MB kept of the
        # fit's peak), and training's memory would come on top of them.
        release_freed_memory()
        fit.announce(emit)
        return fit

    def _run(self) -> None:
        try:
            self._outcome = self._fit()
        except BaseException as exc:  # raised again where the run waits for the result
            self._error = exc

    def announce(self, emit: Callable[[Any], None]) -> None:
        """Emit the scored event once the fit is done (once)."""
        if self._announced or not self._done:
            return
        self._announced = True
        if self._outcome is not None:
            emit(self._outcome[1])

    def passing_on(self, emit: Callable[[Any], None]) -> Callable[[Any], None]:
        """``emit``, with the scored event sent ahead of the first event after the fit is done."""

        def emit_after_announcing(event) -> None:
            self.announce(emit)
            emit(event)
            if isinstance(event, Step):
                self._start()

        return emit_after_announcing

    @property
    def _done(self) -> bool:
        return not self.beside_training or (self._thread.ident is not None and not self._thread.is_alive())

    def _start(self) -> None:
        if self.beside_training and self._thread.ident is None:
            self._thread.start()

    def result(self, emit: Callable[[Any], None]) -> SimpleModelRun | None:
        """Wait for the fit (a short training run may end before it), announce it, and return it."""
        if self.beside_training:  # also when training ended before a step was done (it starts here then)
            self._start()
            self._thread.join()
        if self._error is not None:
            raise self._error
        self.announce(emit)
        return self._outcome[0] if self._outcome is not None else None


@dataclass
class FinalModel:
    """What the run ships: the fine-tuned model alone, or blended with the simple one, and why."""

    probs: np.ndarray  # on the evaluated rows
    blend: BlendChoice
    figures: SimpleModelFigures
    # The simple model's own probabilities on the evaluated rows: eval.json scores the blend from them, as
    # ``bertstudio evaluate`` does from the saved simple model.
    simple_probs: np.ndarray


def decide_final_model(simple: SimpleModelRun, *, val_probs: np.ndarray, val_labels: np.ndarray,
                       eval_probs: np.ndarray, eval_dataset, eval_labels: np.ndarray, label_names: list[str],
                       fine_tuned_seconds: float, seed: int) -> FinalModel:
    """Blend or not (decided on validation only), and every figure the summary and the verdict need."""
    blend = choose_blend(val_probs, simple.validation_probs, val_labels, seed=seed)
    simple_eval, simple_seconds = simple.probabilities(eval_dataset)
    final = blend_probabilities(eval_probs, simple_eval, blend.weight) if blend.used else eval_probs
    figures = compared_figures(classification_metrics(eval_labels, eval_probs, label_names),
                               classification_metrics(eval_labels, simple_eval, label_names), blend,
                               fit_seconds=simple.seconds, fine_tuned_seconds=fine_tuned_seconds,
                               simple_seconds=simple_seconds)
    return FinalModel(final, blend, figures, simple_eval)


def compared_figures(fine: dict, plain: dict, blend: BlendChoice, *, fit_seconds: float, fine_tuned_seconds: float,
                     simple_seconds: float, metric: str = "macro-F1") -> SimpleModelFigures:
    """The summary's figures for both models on the evaluated rows (either task's metrics), and the verdict."""
    # "N times faster" claims only what was measured here: both models on the same evaluated rows.
    speedup = fine_tuned_seconds / simple_seconds if simple_seconds > 0 and fine_tuned_seconds > 0 else None
    return SimpleModelFigures(
        accuracy=plain["accuracy"], macro_f1=plain["macro_f1"],
        validation_macro_f1=blend.simple_f1, fine_tuned_accuracy=fine["accuracy"],
        fine_tuned_macro_f1=fine["macro_f1"], fit_seconds=round(fit_seconds, 2),
        speedup=round(speedup, 1) if speedup else None, blend=blend.to_dict(),
        verdict=verdict(fine["macro_f1"], plain["macro_f1"], speedup=speedup, metric=metric))

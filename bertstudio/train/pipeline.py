"""From a config to a finished run folder: read the data, choose settings, train, evaluate, save.

This is the one path the CLI, the app's TrainingJob and the Python API share.
It only orchestrates; the real work lives in ``data``, ``models``, ``auto`` and
``training``.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from bertstudio import __version__
from bertstudio.config import TrainConfig
from bertstudio.data import split
from bertstudio.data.arrow_batches import column_array, column_values
from bertstudio.data.inspect import read_and_prepare
from bertstudio.data.multilabel import LabelSettings
from bertstudio.data.multilabel_prepare import split_multilabel
from bertstudio.data.lengths import token_length_stats
from bertstudio.data.long_texts import LongTexts, labels_per_text, per_text, text_rows_of
from bertstudio.errors import ConfigError, DataError
from bertstudio.evaluation.blend import BlendChoice
from bertstudio.evaluation.metrics import classification_metrics, softmax
from bertstudio.evaluation.multilabel_metrics import is_multi_label
from bertstudio.evaluation.report import EvalReport, calibrate_run, finalize_run
from bertstudio.events import Finished, Started, Tuning, Working
from bertstudio.fingerprint import Fingerprint, file_fingerprint
from bertstudio.hardware import DeviceInfo, detect_device, weights_precision
from bertstudio.jobs import describe_exception
from bertstudio.leftovers import claim_out_folder
from bertstudio.models.loading import (
    load_model_config,
    load_model_for_classification,
    load_tokenizer,
    quiet_library_progress,
)
from bertstudio.models.pooling import save_classifier, trained_pooling
from bertstudio.models.sources import resolve_model_source
from bertstudio.models.word_counts import WordCountModel
from bertstudio.results import (
    CalibrationFigures,
    Preprocessing,
    RunStatus,
    Summary,
    ValidationScores,
    lost_model,
    read_json,
    read_run_status,
)
from bertstudio.runs import (
    PREPROCESSING_FILE,
    MetricsLog,
    RunFolder,
    TrainingHold,
    atomic_directory,
    atomic_write_json,
    hold_run_folder,
    new_run_dir,
)
from bertstudio.safe_csv import write_csv
from bertstudio.train import tuning
from bertstudio.train.auto import DataStats, Decision, Hardware, ModelShape, Resolved, resolve
from bertstudio.train.batching import make_collator
from bertstudio.train.checkpoints import (
    Checkpointer,
    checkpoint_step,
    latest_checkpoint,
    read_loop_state,
    remove_checkpoints,
)
from bertstudio.train.feeds import make_eval_loader, no_progress, predict_logits, tokenize_split, tokenized_subset
from bertstudio.train.interrupts import Interrupt
from bertstudio.train.lazy_tokens import LazyTokens, tokenizes_lazily
from bertstudio.train.long_texts import choose_aggregation, long_text_fields, window_aggregation
from bertstudio.train.lora import add_lora, has_lora, merge_lora, save_adapter
from bertstudio.train.loop import StopRequested, metrics_of, score_for, train_model
from bertstudio.train.model_setup import check_freeze_layers, is_head_parameter
from bertstudio.train.processes import (
    ProcessLost,
    Processes,
    process_lost,
    processes_text,
    resume_command,
    shared_path,
    start_processes,
)
from bertstudio.train.schedule import total_optimizer_steps
from bertstudio.train.simple_model import SimpleModelFit, SimpleModelRun, decide_final_model
from bertstudio.train.tracking import RunTracker, accelerator_options, check_tracker, start_tracking
from bertstudio.train.multilabel import PROBLEM_TYPE, label_counts
from bertstudio.train.multilabel_run import finish_multilabel
from bertstudio.train.multilabel_setup import (
    label_layout_settings,
    multilabel_preprocessing,
    same_label_layout,
    task_decisions,
)

logger = logging.getLogger(__name__)

DEFAULT_RUNS_ROOT = Path("runs")


@dataclass
class TrainingInputs:
    """Everything known before the first step: data, columns, settings with their reasons, tokenizer."""

    config: TrainConfig
    resolved: Resolved
    split: Any  # bertstudio.data.SplitData
    report: Any  # bertstudio.data.ValidationReport
    table: Any  # bertstudio.data.TableInfo
    lengths: Any  # bertstudio.data.LengthStats
    source: Any  # bertstudio.models.sources.ModelSource
    tokenizer: Any
    device: DeviceInfo

    @property
    def label_names(self) -> list[str]:
        return list(self.split.label_names)


def _read_labeled(path: str, cfg: TrainConfig, columns, labels: LabelSettings | None, role: str) -> Any:
    """A user's own validation or test file (``role``), read with the training file's columns (and label layout)."""

    _, _, prepared = read_and_prepare(path, text_column=columns.text, label_column=columns.label,
                                      text_pair_column=columns.text_pair or "", casefold_labels=cfg.casefold_labels,
                                      labels=labels, role=role)
    prepared.raise_if_errors(scoring=True)  # a small validation or test file, or one of one class, still scores
    return prepared


def load_inputs(cfg: TrainConfig) -> TrainingInputs:
    """Read and check the data, split it, measure lengths and resolve every "auto" setting."""

    quiet_library_progress()
    if not cfg.data:
        raise DataError("No training file was given.", "Pass the path of a CSV, TSV, JSONL, Parquet or Excel file.")
    check_tracker(cfg)
    source = resolve_model_source(cfg.model)
    # The model's config.json gives its depth without loading it: a setting it cannot take is refused before the
    # data is read (--freeze-layers 10 on 6 layers failed after the simple model, leaving a failed run).
    shape = model_shape(source)
    check_freeze_layers(cfg, shape.layers)
    table, columns, prepared = read_and_prepare(cfg.data, text_column=cfg.text_column, label_column=cfg.label_column,
                                                text_pair_column=cfg.text_pair_column,
                                                casefold_labels=cfg.casefold_labels, labels=LabelSettings.of(cfg),
                                                sheet=cfg.sheet)
    prepared.raise_if_errors()
    layout = same_label_layout(prepared, cfg)
    val = _read_labeled(cfg.val_file, cfg, columns, layout, "validation file") if cfg.val_file else None
    test = _read_labeled(cfg.test_file, cfg, columns, layout, "test file") if cfg.test_file else None
    parts = (split_multilabel if prepared.multilabel else split)(prepared, val=val, test=test, seed=cfg.seed)

    tokenizer = load_tokenizer(source)
    train = parts.train
    lengths = token_length_stats(train["text"], tokenizer,
                                 text_pairs=train["text_pair"] if "text_pair" in train.column_names else None)
    counts = label_counts(column_array(train, "label"), len(parts.label_names))
    stats = DataStats(train_rows=len(train), class_counts=dict(zip(parts.label_names, counts.tolist())),
                      suggested_max_length=lengths.suggested_max_length, length_p95=lengths.percentiles[95],
                      is_pair="text_pair" in train.column_names, length_grid=tuple(lengths.percentile_grid),
                      multi_label=prepared.multilabel is not None)
    device = detect_device(cfg.device)
    chosen = {"text_column": columns.text, "label_column": columns.label, "text_pair_column": columns.text_pair,
              **label_layout_settings(prepared)}
    resolved = resolve(cfg.model_copy(update=chosen), stats, Hardware.of(device, Processes.from_environment().count),
                       model=shape)
    resolved.decisions[:0] = task_decisions(prepared)
    return TrainingInputs(resolved.config, resolved, parts, prepared.report, table, lengths, source, tokenizer, device)


def model_shape(source) -> ModelShape:
    """The model's sizes and the pooling it was trained with, read from its files (no weights loaded)."""
    return ModelShape.of(load_model_config(source), trained_pooling=trained_pooling(source))


def make_accelerator(cfg: TrainConfig, device: DeviceInfo, run: RunFolder | None = None):
    """A fresh Accelerator for this run: the app trains many runs in one process, with different settings.

    With ``run`` it also carries the run's experiment tracker (``tracking``); a tuning probe has none.
    """
    from accelerate import Accelerator, DataLoaderConfiguration
    from accelerate.state import AcceleratorState, GradientState, PartialState

    distributed = PartialState._shared_state != {} and PartialState().use_distributed
    if not distributed:
        AcceleratorState._reset_state(reset_partial_state=True)
        GradientState._reset_state()
    mixed = {"bf16": "bf16", "fp16": "fp16"}.get(cfg.precision, "no")
    # On a GPU each batch is copied from pinned memory without waiting: a waiting copy is queued behind the last
    # step's kernels, so the host would stop for the GPU every step (what train/readings.py avoids for the loss).
    loading = {"dataloader_config": DataLoaderConfiguration(non_blocking=True)} if device.type == "cuda" else {}
    return Accelerator(mixed_precision=mixed, cpu=device.type == "cpu", gradient_accumulation_steps=cfg.grad_accum,
                       kwargs_handlers=process_group_options(cfg), **loading, **accelerator_options(cfg, run))


def process_group_options(cfg: TrainConfig) -> list:
    """Options for the model's wrapper on several processes (DistributedDataParallel; unused on one process).

    Gradual unfreezing turns layers' gradients off and on after the model is wrapped: DDP then waits for
    gradients the frozen layers never produce, and every process failed at the second step ("Expected to have
    finished reduction in the prior iteration"). Letting it find the parameters a step did not use (one walk
    over the graph per step) is what makes the phases work there."""
    if cfg.unfreezing != "gradual":
        return []
    from accelerate.utils import DistributedDataParallelKwargs

    return [DistributedDataParallelKwargs(find_unused_parameters=True)]


@dataclass
class TokenizedSplits:
    train: Any
    validation: Any
    evaluation: Any  # the test split, or validation when there is no test split
    evaluation_name: str
    evaluation_raw: Any


def tokenize_splits(inputs: TrainingInputs, max_length: int) -> TokenizedSplits:
    tok, split = inputs.tokenizer, inputs.split
    kept = LongTexts.of(inputs.config.model_copy(update={"max_length": max_length}))
    # A big training split is tokenized as its batches are drawn (lazy_tokens); validation and test are at most
    # 5,000 and 10,000 texts of a big file (data/split.py), and every check reads all of them: up front.
    train = (LazyTokens(split.train, tok, max_length) if tokenizes_lazily(len(split.train), kept, inputs.config)
             else tokenize_split(split.train, tok, max_length, kept))
    val = tokenize_split(split.validation, tok, max_length, kept)
    if split.test is not None and len(split.test) > 0:
        return TokenizedSplits(train, val, tokenize_split(split.test, tok, max_length, kept), "test", split.test)
    return TokenizedSplits(train, val, val, "validation", split.validation)


def started_event(inputs: TrainingInputs, cfg: TrainConfig, data: TokenizedSplits, run_dir: Path,
                  accelerator, resumed_from_step: int | None = None) -> Started:
    # Each process takes every N-th batch (accelerate's batch-sampler sharding), as the loop counts them.
    batches = -(-len(data.train) // cfg.batch_size)  # ceiling divisions: a last short batch still counts
    batches_per_epoch = -(-batches // accelerator.num_processes)
    total, per_epoch = total_optimizer_steps(cfg, batches_per_epoch)
    return Started(run_dir=str(run_dir), model=inputs.source.display_name, device=inputs.device.describe(),
                   precision=cfg.precision, total_steps=total, steps_per_epoch=per_epoch, epochs=cfg.epochs,
                   train_rows=len(inputs.split.train), val_rows=len(inputs.split.validation),  # texts, not windows
                   test_rows=len(data.evaluation_raw) if data.evaluation_name == "test" else 0,
                   label_names=inputs.label_names, decisions=inputs.resolved.to_list(),
                   resumed_from_step=resumed_from_step, processes=accelerator.num_processes,
                   texts_per_update=cfg.batch_size * accelerator.num_processes * cfg.grad_accum)


def split_logits(model, dataset, tokenizer, accelerator, max_length: int | None,
                 on_batch: Callable[[int, int], None] = no_progress) -> np.ndarray:
    collator = make_collator(tokenizer, "token_type_ids" in dataset.column_names, accelerator.device.type,
                             max_length)
    return predict_logits(model, accelerator.prepare(make_eval_loader(dataset, collator)), accelerator,
                          on_batch=on_batch)


PREDICT_ATTENTION = "sdpa"  # what from_pretrained picks for BERT and DistilBERT when not told (predict, evaluate)


def model_as_predicted(model, cfg: TrainConfig, accelerator):
    """The kept model as predict, serve and evaluate run it by default (hardware.weights_precision): its weights in
    that precision, without training's mixed precision, so the run's test scores, and the temperature,
    thresholds and window aggregation fitted on validation, are those of the model it ships (training's autocast
    gave other label sets than predict on 2 of 64 GoEmotions test texts).  A copy: the run saves its fp32 weights."""
    import torch

    dtype = torch.bfloat16 if weights_precision(cfg.precision) == "bf16" else torch.float32
    if accelerator.mixed_precision == "no" and dtype == torch.float32:
        return model  # already run as predict runs it
    scorer = copy.deepcopy(accelerator.unwrap_model(model))
    for patched in ("forward", "_original_forward"):  # accelerate's autocast wrapper: the class's own forward runs
        scorer.__dict__.pop(patched, None)
    # The attention predict and evaluate load the model with (transformers' default), not training's CPU kernel
    # (attention_kernel): in bf16 the two differ in the last bits.
    with contextlib.suppress(ValueError, ImportError):
        scorer.set_attn_implementation(PREDICT_ATTENTION)
    return scorer.to(dtype)


def scoring_phase(split: str) -> str:
    return f"Scoring the kept model on the {split} texts"


SAVING_PHASE = "Saving the model and its results"
TOKENIZING_PHASE = "Splitting the texts into tokens and loading the model"


def finishing(phase: str, emit: Callable[[Any], None]) -> Callable[[int, int], None]:
    """Progress for the phases after training. They are not stopped: the model they finish is the one the
    run keeps (Stop pressed now has nothing left to save time on), so they report and go on."""
    return lambda done, total: emit(Working(phase=phase, done=done, total=total))


def attention_kernel(device: DeviceInfo) -> str | None:
    """PyTorch's fused attention has a slow backward pass on CPUs; the plain one trains faster there.  Elsewhere
    None: transformers then picks SDPA (PyTorch's fused attention: flash or memory-efficient kernels on a GPU) for
    every model that has it (BERT and DistilBERT do; tests/train/test_gpu_speed.py) and the plain one for a model
    that does not, where asking for "sdpa" outright would refuse to load it."""
    return "eager" if device.type == "cpu" else None


def build_model(inputs: TrainingInputs, cfg: TrainConfig):
    """A fresh classifier: the pre-trained encoder with a new head for this data's labels.

    The head's starting weights are drawn from the seeded generator, so the same seed gives the same run
    (otherwise they depend on whatever drew random numbers earlier in the process).
    """
    import torch

    torch.manual_seed(cfg.seed)
    names = inputs.label_names
    model = load_model_for_classification(
        inputs.source, num_labels=len(names), id2label=dict(enumerate(names)),
        label2id={n: i for i, n in enumerate(names)}, head_dropout=cfg.head_dropout,
        attention_dropout=cfg.attention_dropout, attn_implementation=attention_kernel(inputs.device),
        problem_type=PROBLEM_TYPE if cfg.task == "multi_label" else None, pooling=cfg.pooling)
    if cfg.lora_rank:
        add_lora(model, cfg.lora_rank)
    return model


def save_config(run: RunFolder, cfg: TrainConfig, inputs: TrainingInputs) -> None:
    # The processes beside the settings: batch_size is per process, so they say what an update averaged (and
    # `runs compare` lists them where they differ, as it lists the settings).
    cfg.save(run.config, extra={"decisions": inputs.resolved.to_list(), "bertstudio_version": __version__,
                                "label_names": inputs.label_names, "data_sizes": inputs.split.sizes(),
                                "data_fingerprint": _fingerprint(cfg.data),
                                "processes": Processes.from_environment().count})


def _fingerprint(path: str | None) -> dict[str, Any] | None:
    found = file_fingerprint(path)
    return found.to_dict() if found else None


def tune_learning_rate(inputs: TrainingInputs, cfg: TrainConfig, data: TokenizedSplits, model, *,
                       emit: Callable[[Any], None], should_stop: Callable[[], bool]) -> TrainConfig:
    """"Tune for me": the run's settings with the learning rate a short probe found best (see ``tuning``);
    ``model`` (the run's, freshly built) is back at its starting weights afterwards, ready for the real run.

    Each candidate starts from the same weights, trains on the real training batches and is scored on a
    fixed random subset of validation; the decision (or why there was no probe) joins the run's reasons.
    """

    planned, _ = total_optimizer_steps(cfg, -(-len(data.train) // cfg.batch_size))
    plan = tuning.plan_probe(cfg, planned)
    skip_reason = plan.skip_reason or (SEVERAL_PROCESSES_NO_PROBE if Processes.from_environment().several else None)
    if skip_reason:
        inputs.resolved.decisions.append(Decision("lr", cfg.lr, skip_reason))
        return cfg
    val = tokenized_subset(data.validation, tuning.PROBE_VAL_ROWS, cfg.seed)
    # The run's own model, reset to the same starting weights (same new head) for every candidate: a fair
    # comparison, and no extra model load, which on small data would be a large part of the probe's budget.
    start = {k: v.detach().clone() for k, v in model.state_dict().items()}

    def train_one(probe: TrainConfig) -> dict[str, Any]:
        model.load_state_dict(start)
        outcome = train_model(model, inputs.tokenizer, probe, data.train, val, inputs.label_names,
                              make_accelerator(probe, inputs.device), emit=lambda event: None,
                              should_stop=should_stop)
        if outcome.stopped:  # a stop during the probe ends the run: a probe's best model is not the run's
            raise StopRequested()
        return outcome.best_metrics

    def announce(index: int, lr: float) -> None:
        emit(Tuning(index=index + 1, candidates=len(plan.candidates), lr=lr, steps=plan.steps))

    cfg, decision = tuning.probe_learning_rates(cfg, plan, train_one, on_candidate=announce)
    inputs.resolved.decisions.append(decision)
    model.load_state_dict(start)
    return cfg


# The probe scores candidates on one process's view of the data; across processes each would need its own
# collective evaluation per candidate, and a probe is worth its time on small runs, not the ones spread out.
SEVERAL_PROCESSES_NO_PROBE = ("Tune for me runs on one process: trained on several processes, the run keeps the "
                              "automatic learning rate (probe the rate on one machine first, then pass it with --lr).")


def run_training(inputs: TrainingInputs, *, emit: Callable[[Any], None] = lambda e: None,
                 should_stop: Callable[[], bool] = lambda: False, runs_root: Path = DEFAULT_RUNS_ROOT,
                 run_dir: Path | None = None, resume: bool = False, hold: TrainingHold | None = None,
                 interrupt: Interrupt | None = None) -> Summary:
    """Train, evaluate the best checkpoint and save; returns the summary.

    The run folder is marked done only by its summary.json, written last; ``status.json`` says where the run
    stands all along (running, then done, stopped or failed).  A stop after the first evaluation keeps the best
    model so far and ends like a finished run (``summary.stopped_early``).  With ``resume`` the run in
    ``run_dir`` goes on from its latest checkpoint (or from the start when it has none).  The main process holds
    the run folder for the whole training (:func:`claim_run_folder`), or the caller does and passes ``hold``.
    ``interrupt``: the command's Ctrl-C and SIGTERM, honoured at a step boundary with a checkpoint (``interrupts``).
    """

    # Under accelerate launch every process runs this; only the main one writes files or reports events.
    processes = start_processes(inputs.device.type)
    own_hold = None
    if processes.is_main and hold is None:
        hold = own_hold = claim_run_folder(inputs.config, Path(runs_root), run_dir, inputs.source.display_name)
    try:
        run = RunFolder(shared_path(processes, lambda: hold.folder))
        return _train_in(run, inputs, processes, emit=emit, should_stop=should_stop, resume=resume,
                         interrupt=interrupt)
    finally:
        if own_hold is not None:
            own_hold.release()


OUT_BUSY_HINT = "Pick another folder with --out, or wait for that run to end."
RESUME_BUSY_HINT = "Wait for it to finish, or stop it first."


def claim_run_folder(cfg: TrainConfig, runs_root: Path, run_dir: Path | None, model_name: str) -> TrainingHold:
    """The folder this training writes into, held by this process until it ends: ``run_dir``, the ``--out``
    folder (refused when it holds another run, unless ``overwrite``), or a new time-stamped folder.

    The hold comes first and every check after it, so two processes started at the same moment cannot both pass
    the checks: one trains, the other is refused (it used to be check, then write, and both trained)."""
    if run_dir is not None:
        return hold_run_folder(run_dir, RESUME_BUSY_HINT)
    if not cfg.output_dir:
        return hold_run_folder(new_run_dir(runs_root, model_name), OUT_BUSY_HINT)
    hold = hold_run_folder(cfg.output_dir, OUT_BUSY_HINT)
    try:
        claim_out_folder(cfg.output_dir, cfg.overwrite)
    except BaseException:
        hold.release()
        raise
    return hold


def _train_in(run: RunFolder, inputs: TrainingInputs, processes: Processes, *, emit: Callable[[Any], None],
              should_stop: Callable[[], bool], resume: bool, interrupt: Interrupt | None) -> Summary:
    """:func:`run_training` in the run folder this process holds (or, not the main one, shares)."""
    cfg = inputs.config
    main = processes.is_main
    cfg = cfg.model_copy(update={"output_dir": str(run.path)})
    checkpoint = latest_checkpoint(run.path) if resume else None
    if not resume and main:
        save_config(run, cfg, inputs)
        atomic_write_json(run.data_report, {"table": inputs.table.describe(), "report": inputs.report.to_dict(),
                                            "lengths": _as_dict(inputs.lengths), "split": inputs.split.sizes(),
                                            "fingerprint": _fingerprint(cfg.data)})
    resumed_from = (checkpoint_step(checkpoint) if checkpoint else 0) if resume else None
    if resume and main:
        # A report made before this training (`bertstudio report` of the interrupted run) no longer describes it:
        # left in place it read 'interrupted' beside the finished run. One click or command makes it again.
        run.report.unlink(missing_ok=True)
    if main:
        RunStatus.now("running", step=resumed_from or 0, checkpoint_step=resumed_from or None).write(run.status)
    log = MetricsLog(run.metrics) if main else None
    accelerator = tracker = None

    def emit_and_log(event) -> None:
        if not main:
            return  # every process sees the same gathered figures; the main one reports them once
        if event.recorded:  # progress ticks go to the job's queue only, not to the run's record
            log.write(event.to_dict())
        if tracker is not None:
            tracker.track(event)
        emit(event)

    quiet_library_progress()
    try:
        if main:  # before "started", so not in metrics.jsonl (it begins with "started"); the page shows it
            emit(Working(phase=TOKENIZING_PHASE, done=0, total=0))
        data = tokenize_splits(inputs, cfg.max_length)
        model = build_model(inputs, cfg)  # before the probe's clock starts: the run loads it either way
        tune_start = time.perf_counter()
        if cfg.tune and not resume:  # a resumed run goes on with the learning rate its probe chose
            cfg = tune_learning_rate(inputs, cfg, data, model, emit=emit_and_log, should_stop=should_stop)
            if main:
                save_config(run, cfg, inputs)
        tune_seconds = time.perf_counter() - tune_start
        accelerator = make_accelerator(cfg, inputs.device, run)
        start_tracking(accelerator, cfg, run, resumed_from)
        tracker = RunTracker(accelerator)
        emit_and_log(started_event(inputs, cfg, data, run.path, accelerator, resumed_from))
        simple_fit = (SimpleModelFit.begin(inputs.split.train, inputs.split.validation, inputs.label_names, cfg.seed,
                                           emit_and_log, accelerator.device.type)
                      if cfg.simple_model and accelerator.is_main_process else None)
        checkpoints = Checkpointer.every(cfg.checkpoint_minutes, run, on_saved=lambda state: RunStatus.now(
            "running", step=state.step, checkpoint_step=state.step).write(run.status))
        outcome = train_model(model, inputs.tokenizer, cfg, data.train, data.validation, inputs.label_names,
                              accelerator, emit=simple_fit.passing_on(emit_and_log) if simple_fit else emit_and_log,
                              should_stop=should_stop, checkpoints=checkpoints, resume_from=checkpoint,
                              interrupt=interrupt)
        simple = simple_fit.result(emit_and_log) if simple_fit else None
        summary = evaluate_and_save(run, inputs, cfg, data, outcome, accelerator, simple, tune_seconds,
                                    emit=emit_and_log)
        if accelerator.is_main_process:
            RunStatus.now("stopped" if outcome.stopped else "done", step=outcome.steps_done,
                          message=summary.ending()).write(run.status)
            remove_checkpoints(run.path)
        accelerator.wait_for_everyone()
        emit_and_log(Finished(run_dir=str(run.path), summary=summary))
        return summary
    except StopRequested:
        if main:
            RunStatus.now("stopped", message=NOTHING_KEPT).write(run.status)
            remove_checkpoints(run.path)
        raise
    except BaseException as exc:
        lost = process_lost(exc, run.path)
        if main:
            record_ending(run, exc, lost)
        if lost is not None:  # said as what happened, with how to go on, on every process that is left
            raise lost from exc
        raise
    finally:
        if log is not None:
            log.close()
        if accelerator is not None:
            accelerator.end_training()


NOTHING_KEPT = "Stopped before the first validation check, so there was no model worth keeping."


def record_ending(run: RunFolder, exc: BaseException, lost: ProcessLost | None) -> None:
    """status.json for a training ended by ``exc``: interrupted (resumable from its newest checkpoint) for Ctrl-C,
    SIGTERM and another process of the training gone (``lost``); failed, with the reason, for anything else.

    Never raises: the error that ended the run is the one to tell.  On a full disk this write failed too, and its
    "status.json could not be written" replaced the real cause (a checkpoint that did not fit)."""
    last = latest_checkpoint(run.path)
    at = checkpoint_step(last) if last else None
    if isinstance(exc, KeyboardInterrupt) or lost is not None:
        status = RunStatus.now("interrupted", step=at or 0, checkpoint_step=at, message=lost.message if lost else "")
    else:
        status = RunStatus.now("failed", step=at or 0, checkpoint_step=at, message=describe_exception(exc).text())
    try:
        status.write(run.status)
    except Exception as unwritten:  # whatever it is: the error that ended the run is the one to tell
        # status.json still says "running" with this process's id, which every reader takes for "interrupted" once
        # the process is gone: the run is not taken for a live one.
        logger.warning("The run's status (%s) could not be written to %s: %s", status.state, run.status, unwritten)


def evaluate_and_save(run: RunFolder, inputs: TrainingInputs, cfg: TrainConfig, data: TokenizedSplits, outcome,
                      accelerator, simple, tune_seconds: float, *,
                      emit: Callable[[Any], None] = lambda e: None) -> Summary:
    """Evaluate the trained model on the held-out rows and save the model, predictions and summary (last)."""
    label_names = inputs.label_names
    eval_start = time.perf_counter()
    scorer = model_as_predicted(outcome.model, cfg, accelerator)
    eval_logits = split_logits(scorer, data.evaluation, inputs.tokenizer, accelerator, cfg.max_length,
                               finishing(scoring_phase(data.evaluation_name), emit))
    eval_seconds = time.perf_counter() - eval_start
    val_logits = (eval_logits if data.evaluation is data.validation
                  else split_logits(scorer, data.validation, inputs.tokenizer, accelerator, cfg.max_length,
                                    finishing(scoring_phase("validation"), emit)))
    del scorer
    cfg = combine_windows(inputs, cfg, val_logits, data.validation, run if accelerator.is_main_process else None)
    how = window_aggregation(cfg)
    eval_logits = per_text(eval_logits, text_rows_of(data.evaluation), how)
    val_logits = per_text(val_logits, text_rows_of(data.validation), how)
    eval_labels = labels_per_text(data.evaluation)
    val_labels = labels_per_text(data.validation)
    multi = is_multi_label(eval_labels)
    metrics = metrics_of(eval_labels, eval_logits, label_names)
    summary = Summary(
        accuracy=metrics["accuracy"], macro_f1=metrics["macro_f1"], evaluated_on=data.evaluation_name,
        train_seconds=round(outcome.train_seconds, 2), tune_seconds=round(tune_seconds, 2),
        best_epoch=outcome.best_epoch, best_step=outcome.best_step, steps=outcome.steps_done,
        run_dir=str(run.path), model=inputs.source.display_name, device=inputs.device.describe(),
        precision=cfg.precision, tokens_per_second=_rounded(outcome.tokens_per_second),
        samples_per_second=round(outcome.samples_seen / max(outcome.train_seconds, 1e-9), 2),
        validation=ValidationScores(**{k: outcome.best_metrics.get(k) for k in ("accuracy", "macro_f1", "loss")}),
        metrics=metrics, label_names=label_names, finished_at=time.strftime("%Y-%m-%d %H:%M:%S"),
        stopped_early=outcome.stopped, early_stopping=outcome.early_stopped)
    if not accelerator.is_main_process:
        return summary
    emit(Working(phase=SAVING_PHASE, done=0, total=0))  # one write of a few seconds at most (BERT-base: 440 MB)
    if has_lora(outcome.model):  # the adapters on their own, then merged: model/ is a plain classifier
        save_adapter(outcome.model, run.adapter, is_head_parameter)
        merge_lora(outcome.model)
    save_model_folder(run.model, outcome.model, inputs.tokenizer, cfg, label_names)
    if multi:
        return finish_multilabel(run, summary, val_logits=val_logits, eval_logits=eval_logits,
                                 validation=data.validation, evaluation=data.evaluation_raw,
                                 evaluated_on=data.evaluation_name, label_names=label_names, simple=simple,
                                 seed=cfg.seed, eval_seconds=eval_seconds, preprocessing=multilabel_preprocessing(cfg),
                                 keep_simple_model=keep_simple_model)
    return finish_single_label(run, summary, val_logits=val_logits, val_labels=val_labels, eval_logits=eval_logits,
                               eval_labels=eval_labels, evaluation=data.evaluation_raw,
                               evaluated_on=data.evaluation_name, label_names=label_names, simple=simple,
                               eval_seconds=eval_seconds, seed=cfg.seed)


def finish_single_label(run: RunFolder, summary: Summary, *, val_logits: np.ndarray, val_labels: np.ndarray,
                        eval_logits: np.ndarray, eval_labels: np.ndarray, evaluation, evaluated_on: str,
                        label_names: list[str], simple: SimpleModelRun | None, eval_seconds: float,
                        seed: int) -> Summary:
    """Calibrate, blend or not, then write eval.json, the predictions and the summary (last) of what the run ships
    (``evaluation``: the evaluated rows as read, one per text)."""
    # Temperature scaling fitted on validation, saved with the model so every later prediction uses it.
    calibration = calibrate_run(run.path, val_logits=val_logits, val_labels=val_labels, label_names=label_names)
    fine_tuned = softmax(eval_logits, calibration.temperature)
    final = None
    if simple is not None:
        final = decide_final_model(
            simple, val_probs=softmax(val_logits, calibration.temperature),
            val_labels=val_labels, eval_probs=fine_tuned,
            eval_dataset=evaluation, eval_labels=eval_labels, label_names=label_names,
            fine_tuned_seconds=eval_seconds, seed=seed)
        keep_simple_model(run, simple.model, final.blend)
        summary.simple_model = final.figures
    # eval.json once the blend is chosen: it scores what the run ships, as `bertstudio evaluate RUN` does.
    report = finalize_run(run.path, calibration, test_logits=eval_logits, test_labels=eval_labels,
                          label_names=label_names, evaluated_on=evaluated_on,
                          simple_probs=final.simple_probs if final else None,
                          blend_weight=final.blend.weight if final else 1.0)
    shipped_probs = final.probs if final else fine_tuned
    score_shipped_model(summary, report, classification_metrics(eval_labels, shipped_probs, label_names))
    write_predictions(run.predictions, evaluation, shipped_probs, label_names)
    summary.write(run.summary)
    return summary


def score_shipped_model(summary: Summary, report: EvalReport, metrics: dict[str, Any]) -> None:
    """The summary's scores are those of the probabilities the run ships (temperature-scaled, blended when it
    blends), as eval.json's: ``metrics.loss`` meant the uncalibrated loss in runs without a simple model and the
    calibrated one in runs with it, and a blended run's calibration figures were the fine-tuned model's alone."""
    summary.metrics = metrics
    summary.accuracy, summary.macro_f1 = metrics["accuracy"], metrics["macro_f1"]
    summary.calibration = CalibrationFigures(temperature=report.temperature, ece=report.reliability.ece,
                                             ece_calibrated=report.reliability_calibrated.ece)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def combine_windows(inputs: TrainingInputs, cfg: TrainConfig, val_logits: np.ndarray, validation,
                    run: RunFolder | None) -> TrainConfig:
    """Long texts read in windows: mean or max of a text's windows, whichever scores better on validation; the
    choice joins the run's reasons (config.json, rewritten by the main process) and its preprocessing.json."""
    choice = choose_aggregation(cfg, val_logits, validation, lambda labels, logits: score_for(
        metrics_of(labels, logits, inputs.label_names), cfg.metric_for_best))
    if choice is None:
        return cfg
    cfg = cfg.model_copy(update={"window_aggregation": choice.value})
    inputs.resolved.decisions.append(Decision(choice.field, choice.value, choice.reason))
    if run is not None:
        save_config(run, cfg, inputs)
    return cfg


def resume_training(run_dir: str | os.PathLike[str], *, emit: Callable[[Any], None] = lambda e: None,
                    should_stop: Callable[[], bool] = lambda: False, interrupt: Interrupt | None = None,
                    data: str | os.PathLike[str] | None = None) -> Summary:
    """Go on with an interrupted (or failed) run from its latest checkpoint, with its own settings and data.

    ``data``: where the run's training file is now, when it was moved since; it must be the same file (its
    fingerprint is compared with the run's), and config.json records the new place for the next resume."""
    run = RunFolder(run_dir)
    if not run.config.is_file():
        raise ConfigError(f"{run.path} is not a BERT Studio run folder (it has no {run.config.name}).",
                          "Pass the folder of the run to resume (runs/<time>-<model name>, as `bertstudio runs list` "
                          "shows it).")
    # Held before its status is read, and until it ends: two resumes started at once both read "interrupted".
    with _hold_for_resume(run) as hold:
        status = read_run_status(run.path)
        if status.state == "running":  # a process that trains without the lock (an earlier version, another host)
            raise ConfigError(f"The run in {run.path} is still training (process {status.pid}).", RESUME_BUSY_HINT)
        if status.state in ("done", "stopped"):
            lost = lost_model(run.path)  # "evaluate or export it" is no advice for a run whose model is gone
            raise ConfigError(f"The run in {run.path} has already ended ({status.state}); there is nothing to "
                              "resume.", f"{lost.message} {lost.hint}" if lost else
                              "Evaluate or export it, or train a new run.")
        check_same_processes(run)
        located = located_data_file(run, data)
        if located is None:
            raise DataError(f"The training file of {run.path.name} is no longer where the run read it "
                            f"({' or '.join(recorded_data_paths(run))}).",
                            "Put it back there to resume the run: it must be the same file.")
        cfg = TrainConfig.load(run.config).model_copy(update={"output_dir": str(run.path), "data": str(located)})
        check_same_file(run, cfg, moved=data is not None)
        inputs = load_inputs(cfg)
        check_same_data(run, inputs)
        if data is not None and Processes.from_environment().is_main:  # the main process writes the run's files
            record_data_location(run, located)
        return run_training(inputs, emit=emit, should_stop=should_stop, run_dir=run.path, resume=True, hold=hold,
                            interrupt=interrupt)


def _hold_for_resume(run: RunFolder) -> TrainingHold:
    """The main process's hold on the run it resumes; the others (accelerate launch) share it, holding nothing."""
    if Processes.from_environment().is_main:
        return hold_run_folder(run.path, RESUME_BUSY_HINT)
    return TrainingHold(run.path, None)


def check_same_processes(run: RunFolder) -> None:
    """A checkpoint goes on only on as many processes as wrote it.  Its place in the data counts batches shared out
    among that many processes, and an update averages one batch of each: resumed on 2 processes, a 1-process run's
    epoch of 15 steps became 8, its epoch jumped from 1.53 to 3.0 and its batch per update from 16 texts to 32,
    without a word.  A checkpoint from before the count was recorded is resumed as before."""
    checkpoint = latest_checkpoint(run.path)
    if checkpoint is None:
        return
    state = read_loop_state(checkpoint)
    now = Processes.from_environment().count
    if state.processes is None or state.processes == now:
        return
    per_update = state.texts_per_update or 0
    raise ConfigError(f"{run.path.name} was trained on {processes_text(state.processes)} and this resume runs on "
                      f"{processes_text(now)}: its checkpoint at step {state.step:,} counts its place in the data in "
                      f"batches of {state.batch_size} per process ({per_update} texts per update), and on "
                      f"{processes_text(now)} an update would average {per_update // state.processes * now} texts: "
                      "it would skip data and train differently from there on.",
                      f"Resume it as it was trained: {resume_command(run.path, state.processes)}"
                      + (" (without accelerate launch)." if state.processes == 1 else "."))


def check_same_file(run: RunFolder, cfg: TrainConfig, moved: bool = False) -> None:
    """A run resumes only on the file it started with, byte for byte: a file edited in place (labels corrected,
    rows reordered) keeps its row and class counts, and the checkpoint's batches would be drawn from other rows.
    ``moved``: the file was pointed to in a new place, so a difference means another file."""
    saved = recorded_fingerprint(run)
    now = file_fingerprint(cfg.data)
    if saved is None or now is None or saved.sha256 == now.sha256:
        return
    if moved:
        raise DataError(f"The file {cfg.data} is not the one {run.path.name} was trained on ({saved.name}, "
                        f"{saved.bytes:,} bytes, SHA-256 {saved.short}...; this one: {now.name}, {now.bytes:,} bytes, "
                        f"SHA-256 {now.short}...).",
                        "Resume needs the file the run started with, unchanged; to train on this one, start a new run.")
    raise DataError(f"The file {cfg.data} changed since {run.path.name} started: its contents are not those the "
                    "run was trained on.",
                    "Resume needs the file the run started with: put it back as it was, or train a new run on "
                    "the changed file.")


def recorded_fingerprint(run: RunFolder) -> Fingerprint | None:
    return Fingerprint.from_dict(read_json(run.config, "Train the run again from the start.").get("data_fingerprint"))


def recorded_data_paths(run: RunFolder) -> list[str]:
    """Where the run read its training file: the absolute path recorded with its fingerprint, then the path as
    given (relative to the folder the run started in: all a run from before the absolute path was recorded has)."""
    fingerprint = recorded_fingerprint(run)
    given = read_json(run.config, "Train the run again from the start.").get("data")
    places = [fingerprint.path if fingerprint else "", str(given or "")]
    return list(dict.fromkeys(place for place in places if place))


def located_data_file(run: RunFolder, given: str | os.PathLike[str] | None = None) -> Path | None:
    """The run's training file: ``given`` (its new place) when it is a file, else the first recorded place that
    holds a file (:func:`recorded_data_paths`); None when there is none."""
    places = [str(given)] if given is not None else recorded_data_paths(run)
    return next((Path(place) for place in places if Path(place).is_file()), None)


def record_data_location(run: RunFolder, path: Path) -> None:
    """The new place of a moved training file, in the run's config.json, so the next resume finds it untold."""
    saved = read_json(run.config, "Train the run again from the start.")
    fingerprint = saved.get("data_fingerprint")
    if isinstance(fingerprint, dict):
        fingerprint = {**fingerprint, "path": str(path.resolve())}
    atomic_write_json(run.config, {**saved, "data": str(path), "data_fingerprint": fingerprint})


def check_same_data(run: RunFolder, inputs: TrainingInputs) -> None:
    """A run resumes only on the data it started with: the same classes and the same split sizes."""
    saved = read_json(run.config, "Train the run again from the start.")
    if saved.get("label_names") != inputs.label_names or saved.get("data_sizes") != inputs.split.sizes():
        raise DataError(f"The training data of {run.path.name} changed since the run started "
                        f"(then: {saved.get('data_sizes')}, classes {saved.get('label_names')}; now: "
                        f"{inputs.split.sizes()}, classes {inputs.label_names}).",
                        "Resume needs the file the run started with; to use the new file, train a new run.")


def keep_simple_model(run: RunFolder, model: WordCountModel, blend: BlendChoice) -> None:
    """The simple model is kept with every run (``simple_model/``: to compare, or to use instead); when the blend
    won, a copy goes into ``model/`` with its weight, so prediction and every export apply it."""
    model.save(run.simple_model)
    if blend.used:
        model.save(run.model)
        prep = Preprocessing.read(run.preprocessing)
        prep.model_copy(update={"blend_weight": blend.weight}).write(run.preprocessing)


def training_preprocessing(cfg: TrainConfig, tokenizer, label_names: list[str]) -> Preprocessing:
    """What inference must repeat exactly as training did (the temperature is fitted once the model is saved)."""
    return Preprocessing(
        label_names=label_names, max_length=cfg.max_length, truncation="longest_first",
        truncation_side=getattr(tokenizer, "truncation_side", "right"),
        lowercase=bool(getattr(tokenizer, "do_lower_case", False)), text_pair=bool(cfg.text_pair_column),
        text_column=cfg.text_column, text_pair_column=cfg.text_pair_column, casefold_labels=cfg.casefold_labels,
        temperature=1.0, base_model=cfg.model, bertstudio_version=__version__, pooling=cfg.pooling,
        lora_rank=cfg.lora_rank or 0, **long_text_fields(cfg))


def save_model_folder(target: Path, model, tokenizer, cfg: TrainConfig, label_names: list[str]) -> Path:
    """save_pretrained into a temporary folder, then swap it in: never a half-written model."""

    def fill(tmp: Path) -> None:
        save_classifier(model, tmp)
        tokenizer.save_pretrained(tmp)
        training_preprocessing(cfg, tokenizer, label_names).write(tmp / PREPROCESSING_FILE)

    # The weights are nearly all of it (the tokenizer files add about 1 MB), so a full disk can say what it takes.
    needed = sum(p.numel() * p.element_size() for p in model.state_dict().values()) + 1_000_000
    return atomic_directory(target, fill, needed_bytes=needed)


def write_predictions(path: Path, dataset, probs: np.ndarray, label_names: list[str]) -> None:
    import pandas as pd

    frame = pd.DataFrame({"text": column_values(dataset, "text")})
    if "text_pair" in dataset.column_names:
        frame["text_pair"] = column_values(dataset, "text_pair")
    labels = column_array(dataset, "label")
    frame["label"] = [label_names[i] for i in labels]
    pred = probs.argmax(axis=1)
    frame["predicted"] = [label_names[i] for i in pred]
    frame["confidence"] = probs.max(axis=1)
    frame["loss"] = -np.log(np.clip(probs[np.arange(len(labels)), labels], 1e-12, 1))
    # All class columns at once: one column at a time fragmented the frame (300 classes printed 200 warnings).
    frame = pd.concat([frame, pd.DataFrame(probs, columns=[f"prob_{name}" for name in label_names])], axis=1)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    write_csv(frame, tmp)  # formula-like texts escaped (safe_csv)
    os.replace(tmp, path)


def _as_dict(obj) -> Any:
    from dataclasses import asdict, is_dataclass

    return asdict(obj) if is_dataclass(obj) else obj


def train(cfg: TrainConfig, **kwargs) -> Summary:
    """Python API: ``train(config_from_preset(data="file.csv"))`` trains and returns the run's :class:`Summary`."""
    return run_training(load_inputs(cfg), **kwargs)

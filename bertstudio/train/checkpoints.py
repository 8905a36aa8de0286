"""Checkpoints that an interrupted run resumes from.

A checkpoint is accelerate's ``save_state`` (model, optimizer, the registered learning-rate scheduler, every
random generator, the gradient-accumulation counter) plus what the loop itself carries on with: a
:class:`LoopState` (where in the data it was, the counters, the evaluations so far, the best evaluation) in
``loop_state.json`` and the best weights so far in ``best_model.safetensors``.  Each is built under a temporary
name and renamed into place, and only the newest is kept, so ``checkpoints/`` always holds at most one
complete checkpoint (``step-0000120/``).

Saved every ``checkpoint_minutes``, at epoch ends (at most once a minute), and at the step boundary where a run
stopped by Ctrl-C or SIGTERM stops (``interrupts``); never within a step (no extra work in a step).  A run that
has ended removes its checkpoints: there is nothing left to resume, and they weigh four times the model.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from bertstudio.errors import DiskFullError, UserError, disk_full_error, is_disk_full
from bertstudio.results import RunStatus, read_run_status
from bertstudio.runs import RunFolder, atomic_write_text
from bertstudio.train.interrupts import Interrupt

logger = logging.getLogger(__name__)

CHECKPOINT_PREFIX = "step-"
LOOP_STATE_FILE = "loop_state.json"
BEST_WEIGHTS_FILE = "best_model.safetensors"
# An epoch end writes a checkpoint only when the last one is older than this: with epochs of a few seconds, one
# checkpoint per epoch (model + best + optimizer: four times the weights) would cost more than the epochs it saves.
EPOCH_END_MIN_GAP_S = 60.0


class LoopState(BaseModel):
    """What the loop needs, besides accelerate's state, to go on exactly where it was."""

    step: int = 0  # optimizer steps done
    epoch: int = 0  # the epoch the next batch comes from
    batch_in_epoch: int = 0  # batches of that epoch already trained on
    samples: int = 0
    tokens: int = 0
    micro_batches: int = 1  # pieces each batch goes through in (raised after running out of GPU memory)
    train_seconds: float = 0.0  # training time before this checkpoint, across earlier resumes
    history: list[dict[str, Any]] = Field(default_factory=list)  # every evaluation so far (Evaluated.to_dict())
    best_metrics: dict[str, Any] = Field(default_factory=dict)
    best_step: int = 0
    best_epoch: float = 0.0
    best_score: float | None = None  # None: no evaluation yet
    evaluations_without_gain: int = 0
    # What the batches were made of: ``batch_in_epoch`` counts batches of ``batch_size`` on each of ``processes``,
    # ``grad_accum`` of them an update.  None: a checkpoint from before they were recorded (resumed as before).
    processes: int | None = None
    batch_size: int | None = None
    grad_accum: int | None = None

    @property
    def texts_per_update(self) -> int | None:
        if None in (self.processes, self.batch_size, self.grad_accum):
            return None
        return self.processes * self.batch_size * self.grad_accum


def checkpoint_step(folder: Path) -> int:
    return int(folder.name.removeprefix(CHECKPOINT_PREFIX))


def latest_checkpoint(run_dir: str | os.PathLike[str]) -> Path | None:
    """The newest complete checkpoint of the run, or None."""
    root = RunFolder(run_dir).checkpoints
    if not root.is_dir():
        return None
    done = [p for p in root.iterdir() if p.name.startswith(CHECKPOINT_PREFIX) and (p / LOOP_STATE_FILE).is_file()]
    return max(done, key=checkpoint_step, default=None)


@dataclass(frozen=True)
class ResumableRun:
    """A run that can go on: interrupted (or failed) with a checkpoint."""

    run: RunFolder
    status: RunStatus


def latest_resumable_run(root: str | os.PathLike[str]) -> ResumableRun | None:
    """The newest run under ``root`` that was interrupted (with a checkpoint to resume from, or killed before its
    first one: resuming then trains it again from the start, in the same folder with the same settings), or that
    failed with a checkpoint.

    Only the newest run is offered: an older one was followed by another run, so the person moved on.
    """
    root = Path(root)
    if not root.is_dir():
        return None
    runs = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.name, reverse=True)
    newest = next((RunFolder(p) for p in runs if RunFolder(p).config.is_file()), None)
    if newest is None:
        return None
    status = read_run_status(newest.path)
    if latest_checkpoint(newest.path) is None:
        status = status.model_copy(update={"checkpoint_step": None})
    return ResumableRun(newest, status) if status.resumable or status.state == "interrupted" else None


def remove_checkpoints(run_dir: str | os.PathLike[str]) -> None:
    shutil.rmtree(RunFolder(run_dir).checkpoints, ignore_errors=True)


def _prune(root: Path, keep: Path) -> None:
    """Everything but ``keep``: older checkpoints and what a killed save left half-written."""
    for path in root.iterdir():
        if path != keep:
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)


def _write_best(target: Path, best_state: dict | None, reuse: Path | None) -> None:
    """The best weights, hard-linked from the previous checkpoint when they have not changed since (no copy)."""
    if best_state is None:
        return
    if reuse is not None and reuse.is_file():
        try:
            os.link(reuse, target)
            return
        except OSError:
            pass  # a file system without hard links: write them again
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in best_state.items()}, str(target))


# A first save's time, before one was measured, at this many bytes a second (checkpoint_bytes): serialising and
# handing the files to the system ran at 0.5-2 GB/s here; a slow disk or network folder shows in the measured time.
FIRST_SAVE_BYTES_PER_S = 200e6


@dataclass(frozen=True)
class StepEnd:
    """What happens at a step boundary: a checkpoint (``save``), and whether the run stops there (``stop``)."""

    save: bool
    stop: bool


@dataclass
class Checkpointer:
    """Decides when a checkpoint is due and writes it into ``run.checkpoints``."""

    run: RunFolder
    every_seconds: float
    on_saved: Any = None  # called with the LoopState of each checkpoint written (the run's status follows it)
    last_saved: float = field(default_factory=time.perf_counter)
    _best: tuple[int, Path] | None = None  # (best step, its file) in the newest checkpoint
    save_seconds: float | None = None  # how long the last save took (None: none yet)

    @classmethod
    def every(cls, minutes: float, run: RunFolder, on_saved: Any = None) -> Checkpointer | None:
        return cls(run, minutes * 60, on_saved) if minutes > 0 else None

    def due(self, epoch_ended: bool) -> bool:
        since = time.perf_counter() - self.last_saved
        return since >= self.every_seconds or (epoch_ended and since >= min(self.every_seconds, EPOCH_END_MIN_GAP_S))

    def at_step_end(self, accelerator, epoch_ended: bool, interrupt: Interrupt | None) -> StepEnd:
        """Whether to save a checkpoint at this step boundary, and whether the run stops here (Ctrl-C or SIGTERM
        came: saved first unless that would take too long), the same on every process.  ``save`` is collective:
        a process that saved while another trained on would wait for it forever (the two-process test hung exactly
        so), so the main process's clock decides when one is due, and a stop that reached any process stops all."""
        stop = interrupt is not None and interrupt.pending
        hurry = stop and not interrupt.in_time(self.expected_save_seconds(accelerator))
        due = self.due(epoch_ended)
        if accelerator.num_processes > 1:
            import torch

            flags = torch.tensor([int(due and accelerator.is_main_process), int(stop), int(hurry)],
                                 device=accelerator.device)
            due, stop, hurry = (bool(flag) for flag in accelerator.reduce(flags, "max").tolist())
        return StepEnd(save=not hurry if stop else due, stop=stop)

    def expected_save_seconds(self, accelerator) -> float:
        """How long a save takes: the last one's time, or a guess from the checkpoint's size before the first."""
        if self.save_seconds is not None:
            return self.save_seconds
        return checkpoint_bytes(accelerator, None) / FIRST_SAVE_BYTES_PER_S

    def resumed_from(self, checkpoint: Path, state: LoopState) -> None:
        """The checkpoint a resumed run started from: its best weights are linked, not written, next time."""
        self._best = (state.best_step, checkpoint / BEST_WEIGHTS_FILE)
        self.last_saved = time.perf_counter()

    def save(self, accelerator, state: LoopState, best_state: dict | None) -> Path:
        """Write the checkpoint of ``state`` (every process takes part in ``save_state``); returns its folder.

        A save that fails on any process leaves nothing behind: the half-written folder is removed (a full disk
        kept ``.step-N.partial`` of 250 MB, so that not even status.json could be written any more), and a full
        disk is said as such, naming the checkpoint and what it takes."""
        root = self.run.checkpoints
        target = root / f"{CHECKPOINT_PREFIX}{state.step:07d}"
        partial = root / f".{target.name}.partial"
        began = time.perf_counter()
        try:
            # save_state is collective but not synchronised: every process writes its own random-generator file
            # into the folder that only the main process creates, and save_state returns on each as soon as its
            # own part is written.  So the folder is made before the first exchange, and the main process moves
            # it into place only after the second: in the two-process test rank 1 otherwise found "Parent
            # directory .../.step-0000010.partial does not exist" (renamed under it) about one run in two.
            on_every_process(accelerator, lambda: _start_folder(partial) if accelerator.is_main_process else None)
            on_every_process(accelerator, lambda: accelerator.save_state(str(partial)))
            on_every_process(accelerator, lambda: self._complete(accelerator, partial, target, state, best_state))
        except BaseException as exc:
            if accelerator.is_main_process:
                full = _discard(partial, exc, target, checkpoint_bytes(accelerator, best_state))
                if full is not None:
                    raise full from exc
            raise
        self._best = (state.best_step, target / BEST_WEIGHTS_FILE)
        self.last_saved = time.perf_counter()
        self.save_seconds = self.last_saved - began
        return target

    def _complete(self, accelerator, partial: Path, target: Path, state: LoopState, best_state: dict | None) -> None:
        """The main process's part once every process has written its own: the loop's state and the best weights,
        then the folder moved into place and the older checkpoints removed."""
        if not accelerator.is_main_process:
            return
        reuse = self._best[1] if self._best is not None and self._best[0] == state.best_step else None
        _write_best(partial / BEST_WEIGHTS_FILE, best_state, reuse)
        atomic_write_text(partial / LOOP_STATE_FILE, state.model_dump_json(indent=1))
        if target.exists():  # a resumed run reaching the step it resumed from again
            shutil.rmtree(target)
        os.replace(partial, target)
        _prune(target.parent, keep=target)
        if self.on_saved is not None:
            self.on_saved(state)


class PartNotWritten(RuntimeError):
    """Another process of the training could not write its part of a checkpoint (its own error says why)."""


def on_every_process(accelerator, work) -> None:
    """``work()`` on this process, then whether it succeeded on every process.  Writing a checkpoint is collective:
    a process whose part failed while the others went on to wait for it would leave them waiting for ever, so
    every process learns of the failure and stops.  Also the barrier between the parts of a save."""
    error = None
    try:
        work()
    except Exception as exc:  # Ctrl-C and SIGTERM are not shared: the process leaves at once
        error = exc
    if accelerator.num_processes > 1:
        import torch

        failed = accelerator.reduce(torch.tensor([int(error is not None)], device=accelerator.device), "sum")
        if error is None and failed.item():
            raise PartNotWritten("Another process of this training could not write its part of the checkpoint.")
    if error is not None:
        raise error


def _start_folder(partial: Path) -> None:
    shutil.rmtree(partial, ignore_errors=True)  # what a killed save left
    partial.mkdir(parents=True)


def checkpoint_bytes(accelerator, best_state: dict | None) -> int:
    """About what a checkpoint takes on disk: the model's weights, the optimizer's state and the best weights."""
    import torch

    def tensor_bytes(values) -> int:
        return sum(v.numel() * v.element_size() for v in values if isinstance(v, torch.Tensor))

    total = tensor_bytes((best_state or {}).values())
    for model in getattr(accelerator, "_models", []):
        total += tensor_bytes(model.state_dict().values())
    for optimizer in getattr(accelerator, "_optimizers", []):
        for moments in optimizer.state_dict().get("state", {}).values():
            total += tensor_bytes(moments.values())
    return total


def _discard(partial: Path, exc: BaseException, target: Path, needed: int) -> DiskFullError | None:
    """Remove the half-written checkpoint; the error to raise instead of ``exc`` when the disk is what failed.
    torch.save says a full disk as "unexpected pos 576 vs 534" (the optimizer's file), so a write that failed on a
    disk with less room left than the checkpoint takes counts as a full disk too."""
    full = is_disk_full(exc) or (isinstance(exc, (OSError, RuntimeError)) and _free_bytes(partial.parent) < needed)
    shutil.rmtree(partial, ignore_errors=True)
    if not full:
        return None
    return disk_full_error(f"the checkpoint {target.name}", partial.parent, needed, elsewhere=DISK_FULL_ELSEWHERE)


# A full disk while checkpointing: the ways out besides freeing space (checkpoint_minutes is a setting of the app's
# form and a flag of the command alike).
DISK_FULL_ELSEWHERE = ("train on another disk, or save no checkpoints (checkpoint_minutes 0; a run stopped from "
                       "outside then starts again from the beginning)")


def _free_bytes(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return 0


def read_loop_state(checkpoint: Path) -> LoopState:
    """The loop's state saved in ``checkpoint`` (where in the data, the counters, how the batches were made)."""
    try:
        return LoopState.model_validate_json((checkpoint / LOOP_STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise _unloadable(checkpoint, exc) from exc


def _unloadable(checkpoint: Path, exc: Exception) -> UserError:
    return UserError(f"The checkpoint {checkpoint} could not be loaded ({exc}).", "Train the run again from the start.")


def load_checkpoint(accelerator, checkpoint: Path) -> tuple[LoopState, dict | None]:
    """Restore accelerate's state from ``checkpoint``; returns the loop's state and the best weights (or None)."""
    from safetensors.torch import load_file

    state = read_loop_state(checkpoint)
    try:
        accelerator.load_state(str(checkpoint))
    except (OSError, ValueError, RuntimeError) as exc:
        raise _unloadable(checkpoint, exc) from exc
    best_file = checkpoint / BEST_WEIGHTS_FILE
    return state, (load_file(str(best_file)) if best_file.is_file() else None)

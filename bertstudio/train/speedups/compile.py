"""``torch.compile`` for the model's forward pass (and so its backward), with a fallback that never stops a run.

Why: on a GPU at the batch a person gets (32), BERT-base's step is bound by Python launching ~1,000 small kernels,
not by arithmetic (bench/RESULTS.md "Training speed: GPU": 986 samples/s at batch 32, 8% of the bf16 matrix peak;
even a bare loop manages 1,277).  Compiled, the kernels are fused (fewer launches); with ``mode="reduce-overhead"``
each shape's launches are recorded once as a CUDA graph and replayed with one call.  Graphs are per shape, so the
padded lengths are rounded to a few buckets when compiling (``batching.length_buckets``).

Compilation costs time before the first step (tens of seconds for BERT-base, more per new shape), so ``auto``
compiles only CUDA runs long enough to pay it back (``auto.choose_compile``), never on a CPU: there the step is
arithmetic-bound already (65% of the bf16 matrix peak on full batches) and compiling for each of the batches'
many lengths would cost more than it saves.

A compile failure (an unsupported operation, a missing compiler on the machine, a backend bug) must not cost a
person their run: the step is done again uncompiled, with a one-line warning, and the run goes on uncompiled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import torch

from bertstudio.hardware import is_out_of_memory

logger = logging.getLogger(__name__)

T = TypeVar("T")
Forward = Callable[[Any, dict], torch.Tensor]

# What bench/gpu_session.sh compares; the CUDA default is "reduce-overhead" (CUDA graphs over bucketed shapes).
CUDA_MODE = "reduce-overhead"
BACKEND = "inductor"  # tests run the same wiring with "eager" (dynamo alone: seconds, no compiler needed)


def compile_mode(device_type: str) -> str | None:
    """torch.compile's mode for this device: CUDA graphs on a GPU, the default elsewhere."""
    return CUDA_MODE if device_type == "cuda" else None


class CompiledForward:
    """A forward function compiled on first use; uncompiled for good after the first failure.

    Use it as the forward (``forward(model, batch) -> logits``).  A failure while compiling the forward pass is
    caught where it happens; the backward pass compiles during ``backward()``, outside the forward, so a step
    that runs the backward goes through :meth:`run`, which repeats the step uncompiled when compiling fails.
    Running out of memory is not a compile failure: it goes to the caller (the loop splits the batch).
    """

    def __init__(self, plain: Forward, *, mode: str | None = None, backend: str | Callable = "inductor"):
        self.plain = plain
        self.mode = mode
        self.failed = False
        self.compiled = torch.compile(plain, mode=mode, backend=backend)

    def __call__(self, model, batch: dict) -> torch.Tensor:
        if self.failed:
            return self.plain(model, batch)
        try:
            if self.mode == "reduce-overhead":
                # Each call is a new step: the graphs' outputs of the last one are no longer read.
                torch.compiler.cudagraph_mark_step_begin()
            return self.compiled(model, batch)
        except Exception as exc:  # noqa: BLE001 - any compile failure; the plain forward raises what is real
            if is_out_of_memory(exc):
                raise
            self.fall_back(exc)
            return self.plain(model, batch)

    def run(self, step: Callable[[], T], undo: Callable[[], None]) -> T:
        """``step()`` (a forward and backward through this forward); when compiling fails in it, ``undo()`` (drop
        the half-done gradients) and ``step()`` again, uncompiled."""
        if self.failed:
            return step()
        try:
            return step()
        except Exception as exc:  # noqa: BLE001
            if is_out_of_memory(exc) or self.failed:
                raise
            self.fall_back(exc)
        undo()  # outside the except block: the failed attempt's tensors, held by the traceback, are freed first
        return step()

    def fall_back(self, exc: BaseException) -> None:
        self.failed = True
        cause = getattr(exc, "inner_exception", None) or exc.__cause__ or exc  # dynamo wraps the backend's error
        first_line = (str(cause).strip().splitlines() or [""])[0][:200]
        logger.warning("Compiling the model failed (%s: %s); training goes on uncompiled, at the usual speed.",
                       type(cause).__name__, first_line)


def compiled_or_plain(forward: Forward, setting: str, device_type: str) -> Forward:
    """``forward`` compiled when ``setting`` (the resolved ``TrainConfig.compile``) is "on", else as it is."""
    if setting != "on":
        return forward
    return CompiledForward(forward, mode=compile_mode(device_type), backend=BACKEND)


def run_step(forward: Forward, step: Callable[[], T], undo: Callable[[], None]) -> T:
    """``step()``, through :meth:`CompiledForward.run` when ``forward`` is compiled."""
    if isinstance(forward, CompiledForward):
        return forward.run(step, undo)
    return step()

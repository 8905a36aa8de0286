"""The figures of each training step (loss, gradient norm, tokens seen) on their way to the live charts.

Reading a number back from a GPU waits for every kernel queued before it: one ``float(loss)`` per step makes the
host wait for the GPU, then the GPU wait for the host to launch the next step's kernels.  On an H200 at batch 32
that alternation is most of a BERT-base step (bench/RESULTS.md "Training speed: GPU": 986 samples/s, 8% of the
matrix peak).  So on an accelerator the figures stay on the device and are read back together, all steps since the
last read in one copy, every ``FLUSH_SECONDS`` (the charts need a point about every second, not every step) and
whenever the loop needs them (before an evaluation, a checkpoint, the end).  Every step still gets its own
``Step`` event with its own figures, only a little later.

On a CPU there is nothing to wait for (the figure is already computed when the step returns), and the run's
figures must stay exactly what they were: each step is read and reported at once, as before.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from bertstudio.events import Step

FLUSH_SECONDS = 0.5  # a chart point at least this often while the GPU is busy
MAX_PENDING = 64  # and at most this many steps between two reads, however fast they are


def defers_readbacks(device_type: str) -> bool:
    """Whether step figures stay on the device until read together: on anything but a CPU, where kernels run
    asynchronously from the Python that launches them."""
    return device_type != "cpu"


def read_back(values: torch.Tensor) -> list[float]:
    """The one place a step figure is copied to the host (so a test can count the synchronisations)."""
    return values.tolist()


def _column(values: list, device: torch.device) -> torch.Tensor:
    """Figures as one float64 vector on ``device`` (a missing one as NaN; a plain number as it is)."""
    if not values:
        return torch.full((1,), float("nan"), dtype=torch.float64, device=device)
    return torch.stack([torch.as_tensor(float("nan") if v is None else v).to(device, torch.float64).reshape(())
                        for v in values])


@dataclass
class _Pending:
    step: int
    loss: torch.Tensor  # 0-dim float64, already averaged over processes
    grad_norm: torch.Tensor | None
    tokens: torch.Tensor  # tokens seen up to this step (0-dim, on the device)
    samples: int
    lr: float
    elapsed: float  # when the host launched the step


class StepReadings:
    """Step figures, reported at once (``deferred=False``) or gathered on the device and read together.

    ``count_batch`` counts every batch's rows and tokens (accumulated micro-steps too); ``record`` reports an
    optimizer step; ``flush`` reads what is pending and emits its ``Step`` events, in step order.
    """

    def __init__(self, *, deferred: bool, emit: Callable[[Any], None], total_steps: int, steps_per_epoch: int,
                 start: float, processes: int = 1, samples: int = 0, tokens: int = 0):
        self.deferred = deferred
        self.start = start  # perf_counter() when training began: elapsed times count from it
        self.emit = emit
        self.total_steps = total_steps
        self.steps_per_epoch = steps_per_epoch
        self.processes = processes
        self.samples = samples
        self._tokens = tokens  # read back
        self._token_tensor: torch.Tensor | None = None  # counted since the last read, on the device
        self._pending: list[_Pending] = []
        self._last_flush = -math.inf

    @property
    def tokens(self) -> int:
        """Tokens seen so far (reads back any still on the device)."""
        self.flush()
        return self._tokens

    def count_batch(self, batch: dict[str, torch.Tensor]) -> None:
        self.samples += len(batch["labels"]) * self.processes
        if "attention_mask" not in batch:
            return
        count = batch["attention_mask"].sum() * self.processes
        if not self.deferred:
            self._tokens += int(count)
            return
        self._token_tensor = count if self._token_tensor is None else self._token_tensor + count

    def record(self, step: int, loss: float | torch.Tensor, lr: float, grad_norm: float | torch.Tensor | None,
               elapsed: float) -> None:
        if not self.deferred:
            self._emit_step(step, float(loss), lr, float(grad_norm) if grad_norm is not None else float("nan"),
                            self.samples, self._tokens, elapsed)
            return
        tokens = self._token_tensor if self._token_tensor is not None else torch.zeros((), dtype=torch.long)
        self._pending.append(_Pending(step, loss, grad_norm, tokens, self.samples, lr, elapsed))
        now = time.perf_counter()
        # The first step at once: the page (and the startup time a person waits) sees training has begun.
        if len(self._pending) >= MAX_PENDING or now - self._last_flush >= FLUSH_SECONDS:
            self.flush()

    def flush(self) -> None:
        """Read every pending figure in one copy and emit their Step events."""
        if not self.deferred or (not self._pending and self._token_tensor is None):
            return
        self._last_flush = time.perf_counter()
        pending, self._pending = self._pending, []
        device = torch.as_tensor(pending[0].loss if pending else self._token_tensor).device
        columns = [_column([p.loss for p in pending], device), _column([p.grad_norm for p in pending], device),
                   _column([p.tokens for p in pending], device)]
        if self._token_tensor is not None:
            columns.append(_column([self._token_tensor], device))
        values = read_back(torch.cat(columns))
        n = max(len(pending), 1)
        losses, norms, tokens = values[:n], values[n:2 * n], values[2 * n:3 * n]
        base = self._tokens
        if pending:  # the read waited for the GPU: the last step is done now, not when it was launched
            pending[-1].elapsed = max(pending[-1].elapsed, time.perf_counter() - self.start)
        for i, p in enumerate(pending):
            self._emit_step(p.step, losses[i], p.lr, norms[i], p.samples, base + int(tokens[i]), p.elapsed)
        if self._token_tensor is not None:
            self._tokens = base + int(values[-1])
            self._token_tensor = None

    def _emit_step(self, step: int, loss: float, lr: float, grad_norm: float, samples: int, tokens: int,
                   elapsed: float) -> None:
        self.emit(Step(step=step, total_steps=self.total_steps, epoch=round(step / self.steps_per_epoch, 4),
                       loss=loss, lr=lr, grad_norm=grad_norm, samples_per_second=samples / elapsed,
                       tokens_per_second=tokens / elapsed, elapsed=elapsed,
                       eta=elapsed / step * (self.total_steps - step)))

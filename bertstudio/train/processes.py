"""Training on several processes under ``accelerate launch`` (or ``torchrun``): who writes, and the one run folder.

Every process runs the same training on its share of each step's batches; they share one run folder, and only
the main process (rank 0) writes to it or reports progress, so every file exists once and is written once.  The
other processes take part in the collective steps (gradient averaging, gathering validation logits, accelerate's
``save_state``) and otherwise stay silent.

Which process this is comes from the launcher's environment (``RANK``/``WORLD_SIZE`` from torchrun, the
``PMI_*``/``OMPI_*`` variables from mpirun), read without starting anything, so the CLI can decide what to
print before the first collective call.

The batch rule: ``batch_size`` is per process (accelerate's convention: it is what must fit in one device's
memory), so an update averages ``batch_size x processes x grad_accum`` texts.  Two processes at batch B make
exactly the updates of one process at batch B with ``grad_accum`` 2: the same batches, in the same order, averaged
the same way (``tests/train/test_multiprocess.py`` checks this).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from bertstudio.errors import ConfigError, UserError

logger = logging.getLogger(__name__)

_RANK_VARIABLES = ("RANK", "PMI_RANK", "OMPI_COMM_WORLD_RANK", "MV2_COMM_WORLD_RANK")
_SIZE_VARIABLES = ("WORLD_SIZE", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")


def _first_int(names: tuple[str, ...], default: int) -> int:
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            try:
                return int(value)
            except ValueError:
                raise ConfigError(f"The environment variable {name} is {value!r}, not a whole number.",
                                  "Start several processes with accelerate launch, which sets it.") from None
    return default


@dataclass(frozen=True)
class Processes:
    """This process's place among the processes training the same run."""

    index: int = 0
    count: int = 1

    @property
    def is_main(self) -> bool:
        return self.index == 0

    @property
    def several(self) -> bool:
        return self.count > 1

    @classmethod
    def from_environment(cls) -> Processes:
        return cls(index=_first_int(_RANK_VARIABLES, 0), count=max(_first_int(_SIZE_VARIABLES, 1), 1))


def start_processes(device_type: str) -> Processes:
    """Join the launcher's process group (nothing to do for one process) and say which process this is.

    Done before the run folder is chosen, because the main process names it and tells the others.  ``cpu`` must
    match the Accelerator made later (``pipeline.make_accelerator``): on a machine without a GPU, accelerate
    uses the gloo backend only when told the run is on the CPU.
    """
    processes = Processes.from_environment()
    if processes.several:
        from accelerate.state import PartialState

        PartialState(cpu=device_type == "cpu")
    return processes


def shared_path(processes: Processes, make: Callable[[], Path]) -> Path:
    """``make()`` on the main process only (it creates a folder with a unique, time-stamped name); every process
    gets the main process's answer, so all of them write into the same folder."""
    if not processes.several:
        return make()
    from accelerate.utils import broadcast_object_list

    chosen = [str(make()) if processes.is_main else None]
    broadcast_object_list(chosen, from_process=0)
    return Path(chosen[0])


def resume_command(run_dir: str | os.PathLike[str], processes: int) -> str:
    """The command that goes on with the run in ``run_dir`` on as many processes as it trained on: under
    ``accelerate launch`` for several (``--multi_gpu`` starts them through torchrun, on GPUs or, without one, on the
    CPU), without it for one.  One wording for every place that says how to resume."""
    command = f"bertstudio train --resume {run_dir}"
    if processes <= 1:
        return command
    return f"accelerate launch --multi_gpu --num_processes {processes} -m {command}"


def processes_text(count: int) -> str:
    return "1 process" if count == 1 else f"{count} processes"


def one_process_launch_warning() -> str | None:
    """``accelerate launch --cpu --num_processes N`` without mpirun starts ONE process (accelerate 1.x runs CPU
    processes through mpirun only): say so, and how to get N processes, instead of training on one silently."""
    asked = os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes") and "MASTER_ADDR" in os.environ
    if not asked or Processes.from_environment().several:
        return None
    return ("accelerate launch --cpu started a single process: several CPU processes need mpirun "
            "(--mpirun_hostfile) or torchrun. On a machine without a GPU, run `accelerate launch --multi_gpu "
            "--num_processes N -m bertstudio train ...` (training then uses the CPU with the gloo backend).")


# What gloo and NCCL say when the other end of a collective is gone: a process of the run killed, crashed, or on a
# machine that went away. The process that is left sees this error before its launcher's SIGTERM reaches it.
LOST_PROCESS_SIGNS = ("connection closed by peer", "connection reset by peer", "remote process exited",
                      "communicator was aborted", "broken pipe")
COLLECTIVE_BACKENDS = ("gloo", "nccl")


class ProcessLost(UserError):
    """Another process of this training stopped, so this one cannot go on: an interruption, not a bug."""


def lost_process(exc: BaseException) -> str | None:
    """The backend's words when ``exc`` (or what caused it) says another training process is gone, else None."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        text = str(exc)
        lowered = text.lower()
        if isinstance(exc, RuntimeError) and any(b in lowered for b in COLLECTIVE_BACKENDS) \
                and any(sign in lowered for sign in LOST_PROCESS_SIGNS):
            return text
        exc = exc.__cause__ or exc.__context__
    return None


def process_lost(exc: BaseException, run_dir: Path) -> ProcessLost | None:
    """``exc`` as the interruption it is when another process of the training stopped (kill -9 of one rank made
    the other fail with gloo's "Connection closed by peer", reported as a bug), with how to go on."""
    words = lost_process(exc)
    if words is None:
        return None
    reason = next((s for s in LOST_PROCESS_SIGNS if s in words.lower()), "connection lost")
    return ProcessLost(f"Another process of this training stopped (killed, crashed or its machine gone: "
                       f"{reason}), so this one stopped too.",
                       "Go on from the last checkpoint with: "
                       f"{resume_command(run_dir, Processes.from_environment().count)}")

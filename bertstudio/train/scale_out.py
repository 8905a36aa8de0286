""""Train on a bigger machine": this run's settings as a file, an accelerate config, and the one command to run.

The settings file is a TrainConfig JSON (``bertstudio train --config FILE`` reads it back); the accelerate config
says how many machines and GPUs; the command starts the same training there under ``accelerate launch``.
``batch_size`` stays per process (see ``processes.py``), so N GPUs train on N times the texts per update at the
same learning rate: what was measured here is the two-process equivalence on a CPU, not the accuracy at a large
global batch (docs/SCALE.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from bertstudio.config import TrainConfig
from bertstudio.errors import ConfigError
from bertstudio.runs import atomic_write_text

SETTINGS_FILE = "train_config.json"
ACCELERATE_FILE = "accelerate_config.yaml"
DEFAULT_PORT = 29500


@dataclass(frozen=True)
class Machines:
    """Where the run goes: how many machines, how many GPUs each."""

    machines: int = 1
    gpus_per_machine: int = 1
    main_address: str = "MAIN_MACHINE_IP"  # the first machine's address; a placeholder until the person knows it

    def __post_init__(self) -> None:
        if self.machines < 1 or self.gpus_per_machine < 1:
            raise ConfigError("The number of machines and of GPUs per machine must be at least 1.",
                              "Enter how many machines and GPUs the bigger machine has.")

    @property
    def processes(self) -> int:
        return self.machines * self.gpus_per_machine


@dataclass(frozen=True)
class ScaleOutFiles:
    settings: Path
    accelerate_config: Path
    command: str


def accelerate_config_text(machines: Machines, precision: str) -> str:
    """accelerate's config file (what ``accelerate config`` would write) for these machines.  Words YAML reads as
    booleans are quoted: an unquoted ``mixed_precision: no`` is False, and accelerate launch failed on it
    (``'bool' object has no attribute 'lower'``)."""
    mixed = {"bf16": "bf16", "fp16": "fp16"}.get(precision, "no")
    kind = "MULTI_GPU" if machines.processes > 1 else "NO"
    lines = ["compute_environment: LOCAL_MACHINE", f"distributed_type: {kind}", "downcast_bf16: 'no'",
             "gpu_ids: all", "machine_rank: 0", "main_training_function: main", f"mixed_precision: '{mixed}'",
             f"num_machines: {machines.machines}", f"num_processes: {machines.processes}", "rdzv_backend: static",
             "same_network: true", "use_cpu: false"]
    if machines.machines > 1:
        lines += [f"main_process_ip: {machines.main_address}", f"main_process_port: {DEFAULT_PORT}"]
    return "\n".join(sorted(lines)) + "\n"


def launch_command(machines: Machines) -> str:
    """The command to run in the folder holding both files and the data file (on every machine)."""
    rank = " --machine_rank THIS_MACHINE_RANK" if machines.machines > 1 else ""
    return (f"accelerate launch --config_file {ACCELERATE_FILE}{rank} -m bertstudio train "
            f"--config {SETTINGS_FILE}")


def portable_settings(cfg: TrainConfig) -> TrainConfig:
    """The run's settings for another machine: the data file by name (copied next to the settings), a new run
    folder there, the device chosen there."""
    if not cfg.data:
        raise ConfigError("These settings have no training file.", "Choose the data first, then write the files.")
    return cfg.model_copy(update={"data": Path(cfg.data).name, "output_dir": None, "device": "auto"})


def write_scale_out(cfg: TrainConfig, folder: str | os.PathLike[str], machines: Machines) -> ScaleOutFiles:
    """Write the settings file and the accelerate config into ``folder`` (a str as docs/SCALE.md calls it with: it
    raised AttributeError: 'str' object has no attribute 'mkdir'); returns them and the command."""
    settings = portable_settings(cfg)
    folder = Path(folder).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    settings.save(folder / SETTINGS_FILE)
    atomic_write_text(folder / ACCELERATE_FILE, accelerate_config_text(machines, settings.precision))
    return ScaleOutFiles(folder / SETTINGS_FILE, folder / ACCELERATE_FILE, launch_command(machines))

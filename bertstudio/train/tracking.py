"""Experiment tracking through accelerate's trackers: TensorBoard event files in every run folder by default.

``TrainConfig.report_to`` picks the tracker.  TensorBoard (the default) writes files into ``RUN/logs/bertstudio/``
and nothing else; wandb, mlflow and trackio send or store the curves wherever their own settings say, so they
are used only when asked for by name.  A tracker whose package is not installed is a clear error before any
work starts, never a silent run without curves.

The curves are the training events themselves (:func:`scalars_of`): the values are already on the host when the
event is made, so tracking adds no device synchronisation to a step.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from bertstudio.config import TrainConfig
from bertstudio.errors import ConfigError
from bertstudio.events import Evaluated, Event, Step
from bertstudio.runs import RunFolder

PROJECT = "bertstudio"  # the project name trackers file runs under (TensorBoard: the folder inside RUN/logs/)
PACKAGES = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow", "trackio": "trackio"}


def tracker_installed(name: str) -> bool:
    from accelerate.utils import (
        is_mlflow_available,
        is_tensorboard_available,
        is_trackio_available,
        is_wandb_available,
    )

    checks = {"tensorboard": is_tensorboard_available, "wandb": is_wandb_available, "mlflow": is_mlflow_available,
              "trackio": is_trackio_available}
    return checks[name]()


def check_tracker(cfg: TrainConfig) -> None:
    """Raise a ConfigError that says what to do when the chosen tracker's package is not installed."""
    name = cfg.report_to
    if name == "none" or tracker_installed(name):
        return
    raise ConfigError(f"Tracking the run with {name} needs the {PACKAGES[name]} package, which is not installed.",
                      f"Install it (pip install {PACKAGES[name]}), or choose another tracker with --report-to "
                      "(tensorboard, or none for no tracking).")


def accelerator_options(cfg: TrainConfig, run: RunFolder | None) -> dict[str, Any]:
    """The Accelerator's tracking arguments for a run folder (none for a run without one, like a tuning probe)."""
    if run is None or cfg.report_to == "none":
        return {}
    from accelerate.utils import ProjectConfiguration

    return {"log_with": cfg.report_to,
            "project_config": ProjectConfiguration(project_dir=str(run.path), logging_dir=str(run.tracking))}


def hyperparameters(cfg: TrainConfig) -> dict[str, bool | int | float | str]:
    """The resolved settings as trackers accept them (plain values only; settings left empty are omitted)."""
    return {k: v for k, v in cfg.to_json_dict().items() if isinstance(v, (bool, int, float, str))}


def start_tracking(accelerator, cfg: TrainConfig, run: RunFolder, resumed_from_step: int | None) -> None:
    """Open the run's trackers.  A resumed run hides what TensorBoard recorded after its checkpoint (those steps
    are trained again), so each curve reads as one run."""
    if cfg.report_to == "none":
        return
    name = run.path.name
    kwargs: dict[str, dict[str, Any]] = {"wandb": {"name": name}, "trackio": {"name": name},
                                         "mlflow": {"run_name": name}, "tensorboard": {}}
    if resumed_from_step is not None:
        kwargs["tensorboard"]["purge_step"] = resumed_from_step + 1
    accelerator.init_trackers(PROJECT, config=hyperparameters(cfg), init_kwargs={cfg.report_to: kwargs[cfg.report_to]})


def scalars_of(event: Event) -> tuple[dict[str, float], int] | None:
    """(the curves' values, the step) a training event adds, or None for events that are not curves."""
    if isinstance(event, Step):
        return {"train/loss": event.loss, "train/learning_rate": event.lr, "train/grad_norm": event.grad_norm,
                "train/tokens_per_second": event.tokens_per_second}, event.step
    if isinstance(event, Evaluated):
        return {"validation/loss": event.val_loss, "validation/accuracy": event.accuracy,
                "validation/macro_f1": event.macro_f1}, event.step
    return None


# accelerate's TensorBoard tracker flushes the file on every log call: 0.8 ms per step event on the reference CPU.
# A BERT step takes 50 ms and more, but a head-only step on cached features well under 1 ms, where logging each
# would triple the step.  So a step is logged when this long has passed since the last one logged (every step of
# a normal run; at most 20 a second, under 2% of the time, for the fastest), and always the last and evaluations.
MIN_STEP_LOG_INTERVAL_S = 0.05


@dataclass
class RunTracker:
    """Sends the training events' curves to the run's trackers (nothing when it has none)."""

    accelerator: Any
    min_interval_s: float = MIN_STEP_LOG_INTERVAL_S
    _last_logged: float = -math.inf

    def track(self, event: Event) -> None:
        values = scalars_of(event)
        if values is None or not self.accelerator.trackers:
            return
        now = time.perf_counter()
        if isinstance(event, Step) and event.step < event.total_steps and now - self._last_logged < self.min_interval_s:
            return
        self._last_logged = now
        self.accelerator.log(values[0], step=values[1])

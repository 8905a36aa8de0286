"""``bertstudio train`` and ``bertstudio presets``."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bertstudio.cli_args import (
    Command,
    add_config_flags,
    check_writable_folder,
    config_from_args,
    given_config_flags,
    no_arguments,
    positive_int,
)
from bertstudio.config import DEFAULT_PRESET, TrainConfig, list_presets
from bertstudio.data.io import table_cache_root
from bertstudio.errors import ConfigError
from bertstudio.evaluation.seeds import train_with_seeds
from bertstudio.leftovers import claim_out_folder, remove_leftovers
from bertstudio.results import Summary
from bertstudio.runs import RunFolder
from bertstudio.train.console import ConsoleProgress
from bertstudio.train.interrupts import Interrupt, Terminated
from bertstudio.train.pipeline import (
    load_inputs,
    located_data_file,
    recorded_data_paths,
    resume_training,
    run_training,
)
from bertstudio.train.processes import Processes, one_process_launch_warning


def _add_train(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", nargs="?", help="Training file (CSV, TSV, JSONL, Parquet or Excel).")
    p.add_argument("--data", dest="data_file", metavar="FILE",
                   help="The training file, as the first argument gives it; with --resume, where the run's file is "
                        "now if it was moved (the same file: its contents are compared with the run's).")
    p.add_argument("--resume", metavar="RUN",
                   help="Go on with an interrupted run (its folder) from its latest checkpoint, with its own settings "
                        "and data; no training file or other settings are needed.")
    # --preset, --runs-dir and --seeds default to None so that --resume can tell they were given (and refuse them).
    p.add_argument("--preset", help=f"Starting settings (see `bertstudio presets`; default: {DEFAULT_PRESET}; a "
                                    "--config file names its own, as \"preset\").")
    p.add_argument("--config", metavar="FILE",
                   help="Settings saved as JSON (a run's config.json, the app's \"Train on a bigger machine\" "
                        "file, or a few settings such as {\"preset\": \"head-only\", \"epochs\": 3}: they start from "
                        "the preset they name); flags given as well override them.")
    p.add_argument("--runs-dir", help=f"Where new run folders are created (default: {DEFAULT_RUNS_DIR}).")
    _add_output_flags(p)
    p.add_argument("--seeds", type=positive_int,
                   help="Train this many times with different seeds and report the mean and spread of macro-F1.")
    add_config_flags(p)


def _add_output_flags(p: argparse.ArgumentParser) -> None:
    """How much a training prints: the same flags for ``train`` and ``train-seeds`` (a script written for one
    works with the other)."""
    p.add_argument("--quiet", action="store_true", help="No progress bar.")


DEFAULT_RUNS_DIR = "runs"
EXIT_INTERRUPTED = 128 + signal.SIGINT  # what a shell reports for a process ended by Ctrl-C
EXIT_TERMINATED = 128 + signal.SIGTERM  # ... and by SIGTERM


def stops_gracefully(command: Callable[[argparse.Namespace, Interrupt], int]) -> Callable[[argparse.Namespace], int]:
    """A training command that Ctrl-C and SIGTERM (``kill``, ``docker stop``, SLURM, systemd, accelerate's launcher
    passing it on) stop at the next step boundary with a checkpoint there (``interrupts``), recorded "interrupted",
    exiting 130 or 143 as a shell reports a process the signal ended.  SIGTERM used to end the process on the spot
    (status.json "running", no word of how to go on), and Ctrl-C lost every step since the last checkpoint.

    The console ends with one line, the checkpoint kept and the command that goes on from it; "Stopped." only when
    no run had started yet (it followed "Interrupted. Go on with ..." as a second ending)."""
    def run(args: argparse.Namespace) -> int:
        interrupt = Interrupt()
        try:
            with interrupt.handled():
                return command(args, interrupt)
        except KeyboardInterrupt as stop:
            if Processes.from_environment().is_main:
                print("Stopped.", file=sys.stderr)
            return exit_code(stop)
    run.__doc__ = command.__doc__
    return run


def exit_code(stop: KeyboardInterrupt) -> int:
    return EXIT_TERMINATED if isinstance(stop, Terminated) else EXIT_INTERRUPTED


def run_train(args: argparse.Namespace, interrupt: Interrupt | None = None) -> int:
    args = argparse.Namespace(**{**vars(args), "data": training_file(args)})
    if args.resume:
        refuse_settings_with_resume(args)
    # --preset stays None when not given: with --config the file names the preset (config_from_args defaults it).
    args = argparse.Namespace(**{**vars(args), "runs_dir": args.runs_dir or DEFAULT_RUNS_DIR, "seeds": args.seeds or 1})
    # What killed runs left half-written (their processes are gone) goes first; a running run is left alone.
    remove_leftovers([args.runs_dir, args.resume, getattr(args, "output_dir", None), table_cache_root()])
    if args.resume:
        return run_resume(args, interrupt)
    cfg = train_config(args)
    if args.seeds > 1:
        return run_train_seeds(args)
    # Under accelerate launch every process runs this command; the main one prints (the others train silently).
    main = Processes.from_environment().is_main
    if main:  # said before the data is read: a bad --out used to surface as a traceback after it
        check_out_folder(cfg, args.runs_dir)
    warning = one_process_launch_warning()
    if warning:
        print(warning, file=sys.stderr)
    inputs = load_inputs(cfg)
    progress = console_for(args)
    if main:
        progress.show_inputs(inputs)
    return train_and_report(progress, lambda emit: run_training(inputs, emit=emit, runs_root=args.runs_dir,
                                                                interrupt=interrupt))


def console_for(args: argparse.Namespace) -> ConsoleProgress:
    """The progress of ``train`` and ``train --resume``: under accelerate launch every process runs the command,
    and only the main one shows progress."""
    return ConsoleProgress(enabled=Processes.from_environment().is_main and not args.quiet)


def train_and_report(progress: ConsoleProgress, train: Callable[[Callable[[Any], None]], Summary]) -> int:
    """Run ``train(emit)`` with ``progress`` and print the summary's JSON line, from the main process alone (SCALE.md):
    a resume on two processes printed it twice, the second process's without its simple-model figures.  A training
    stopped by Ctrl-C or SIGTERM returns its exit code once the console has said how to go on."""
    try:
        with progress.running():
            summary = train(progress.on_event)
    except KeyboardInterrupt as stop:
        if not progress.told_how_to_go_on:
            raise
        return exit_code(stop)
    if Processes.from_environment().is_main:
        print(json.dumps(summary.headline()))
    return 0


def training_file(args: argparse.Namespace) -> str | None:
    """The training file, given as the first argument or with --data (the two naming different files is refused)."""
    given = getattr(args, "data_file", None)
    if args.data and given and Path(args.data) != Path(given):
        raise ConfigError(f"Two training files were given: {args.data} and --data {given}.", "Give one of them.")
    return args.data or given


def refuse_settings_with_resume(args: argparse.Namespace) -> None:
    """A resumed run goes on with the settings and data it started with: anything else given is refused, not
    silently ignored (``--resume RUN --lr 0.5`` used to train on as if it were not there).  A training file is
    taken: where the run's file is now, when it was moved (it must be the same file)."""
    given = [flag for flag, value in (("--config", args.config), ("--preset", args.preset),
                                      ("--runs-dir", args.runs_dir), ("--seeds", args.seeds)) if value is not None] \
        + given_config_flags(args)
    if given:
        raise ConfigError(f"--resume does not take {', '.join(given)}: a resumed run goes on with its own settings "
                          "and data.", f"Run `bertstudio train --resume {args.resume}` alone (--quiet may be added; "
                                       "--data FILE when its training file was moved), or start a new run without "
                                       "--resume to train with other settings or data.")


def check_out_folder(cfg: TrainConfig, runs_dir: str) -> None:
    """Refuse, before anything is read or printed, an --out that holds another run or a folder that cannot be
    written (a file, /sys, a read-only disk).  With --overwrite the earlier run is removed later, once the data has
    been read: a refused data file then leaves it in place."""
    if not cfg.output_dir:
        check_writable_folder(runs_dir, "--runs-dir")
        return
    if not cfg.overwrite:
        claim_out_folder(cfg.output_dir, overwrite=False)
    check_writable_folder(cfg.output_dir, "--out")


def train_config(args: argparse.Namespace) -> TrainConfig:
    """The settings of ``bertstudio train``: the flags over the preset, or over the saved ``--config`` file."""
    if not args.config:
        if not args.data:
            raise ConfigError("No training file was given.", "Pass the path of a CSV, TSV, JSONL, Parquet or Excel "
                                                             "file, --config FILE or --resume RUN.")
        return config_from_args(args, data=args.data)
    path = Path(args.config)
    if getattr(args, "preset", None):
        raise ConfigError("--preset and --config both say where the settings start.",
                          'Name the preset in the settings file ("preset": "head-only"): the file\'s other settings '
                          "and the flags then override it. Or leave --config out.")
    if path.is_dir():
        inside = path / "config.json"
        raise ConfigError(f"--config {path} is a folder, not a settings file.",
                          f"Pass the JSON file itself, such as {inside} (a run's settings)." if inside.is_file()
                          else "Pass the path of a saved settings JSON file (a run's config.json, or "
                               "train_config.json).")
    if not path.is_file():
        raise ConfigError(f"The settings file {path} does not exist.", "Pass the path of a saved settings JSON file.")
    # A run's config.json names its own run folder: a new run gets a new folder unless --output-dir says otherwise.
    given = {k: v for k, v in vars(args).items() if k in TrainConfig.model_fields and k != "preset" and v is not None}
    try:
        cfg = TrainConfig.load(path, strict=True, overrides={"output_dir": None, **given,
                                                              **({"data": args.data} if args.data else {})})
    except ValueError as exc:  # not JSON
        raise ConfigError(f"{path} is not a settings file ({exc}).",
                          "Pass a run's config.json or the train_config.json the app wrote.") from None
    if not cfg.data:
        raise ConfigError(f"The settings file {path} names no training file.", "Pass the training file too.")
    return cfg


def run_resume(args: argparse.Namespace, interrupt: Interrupt | None = None) -> int:
    check_resume_data(args.resume, args.data)
    return train_and_report(console_for(args), lambda emit: resume_training(args.resume, emit=emit,
                                                                            interrupt=interrupt, data=args.data))


def check_resume_data(run_dir: str, given: str | None) -> None:
    """The run's training file is found, or the refusal says how to point to it: config.json holds the path as it
    was given, relative to the folder the run started in, so a resume from another folder, or after the file was
    moved, said "pick the file again" (the app's words) and --resume took no file."""
    run = RunFolder(run_dir)
    if not run.config.is_file():
        return  # resume_training says it is no run folder
    if given is not None and not Path(given).is_file():
        raise ConfigError(f"The training file {given} does not exist.", "Check its path.")
    if located_data_file(run, given) is None:
        raise ConfigError(f"The training file of {run_dir} is no longer where the run read it "
                          f"({' or '.join(recorded_data_paths(run))}).",
                          f"Give its new place: bertstudio train --resume {run_dir} --data FILE (the same file: its "
                          "contents are compared with the run's), or put it back there.")


def run_presets(args: argparse.Namespace) -> int:
    for preset in list_presets().values():
        print(f"{preset.name:12s} {preset.use_when}")
    return 0


def _add_train_seeds(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", help="Training file (CSV, TSV, JSONL, Parquet or Excel).")
    p.add_argument("--seeds", type=positive_int, default=3, help="How many seeds to train (seed, seed+1, ...).")
    p.add_argument("--preset", default=DEFAULT_PRESET, help="Starting settings (see `bertstudio presets`).")
    p.add_argument("--runs-dir", default="runs", help="Where the new folder of runs is created.")
    _add_output_flags(p)
    add_config_flags(p)


def run_train_seeds(args: argparse.Namespace, interrupt: Interrupt | None = None) -> int:
    def show(run) -> None:
        print(f"seed {run.seed}: accuracy {run.accuracy:.4f}, macro-F1 {run.macro_f1:.4f} ({run.run_dir})",
              flush=True)

    cfg = train_config(args) if getattr(args, "config", None) else config_from_args(args, data=args.data)
    check_out_folder(cfg, args.runs_dir)
    report = train_with_seeds(cfg, args.seeds, runs_root=args.runs_dir, on_run=show, interrupt=interrupt)
    print(report.to_text())
    print(json.dumps(report.headline()))
    return 0


COMMANDS = (
    Command('train', 'Fine-tune a classifier on a labeled file and save it.',
            _add_train, stops_gracefully(run_train)),
    Command('presets', 'List the presets and when to use each.',
            no_arguments, run_presets),
    Command('train-seeds', 'Train the same settings with several seeds and report the mean and spread of macro-F1.',
            _add_train_seeds, stops_gracefully(run_train_seeds)),
)

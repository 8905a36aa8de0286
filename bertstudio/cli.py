"""The ``bertstudio`` command.

Training flags are generated from :class:`bertstudio.config.TrainConfig`, so the
CLI can never drift from the config.  User mistakes end in one line on stderr and
exit code 2; the last stdout line of ``train`` is a JSON object with the results.
"""

from __future__ import annotations

import argparse
import json
import sys
import types
import typing
from typing import Any, Callable, Sequence

from bertstudio.config import DEFAULT_PRESET, TrainConfig, config_from_preset
from bertstudio.errors import UserError

EXIT_USER_ERROR = 2

# Subcommands register here: name -> (add_arguments, run). Other modules (evaluate, export, ...)
# add theirs through ``command`` so this file does not grow with every feature.
COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {}


def command(name: str, help_text: str):
    def register(add_arguments: Callable[[argparse.ArgumentParser], None]):
        def with_run(run: Callable[[argparse.Namespace], int]):
            COMMANDS[name] = (help_text, add_arguments, run)
            return run
        return with_run
    return register


# --- flags from the config ---------------------------------------------------------------------


def _base_type(annotation: Any) -> Any:
    """``int | None`` -> int; ``Literal[...]`` stays as is."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        return args[0]
    return annotation


def _parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected yes or no, got '{text}'")


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per config field that has a ``cli`` name; defaults stay None so presets can apply."""
    for name, info in TrainConfig.model_fields.items():
        extra = info.json_schema_extra or {}
        flag = extra.get("cli") if isinstance(extra, dict) else None
        if not flag or name == "preset":
            continue
        kind = _base_type(info.annotation)
        # argparse reads "%" in help as a format placeholder ("adds at most 25%" broke --help).
        kwargs: dict[str, Any] = {"dest": name, "default": None, "help": (info.description or "").replace("%", "%%")}
        if typing.get_origin(kind) is typing.Literal:
            kwargs["choices"] = list(typing.get_args(kind))
        elif kind is bool:
            kwargs.update(type=_parse_bool, nargs="?", const=True, metavar="yes|no")
        elif kind in (int, float):
            kwargs["type"] = kind
        parser.add_argument(flag, **kwargs)


def config_from_args(args: argparse.Namespace, **fixed: Any) -> TrainConfig:
    values = {name: getattr(args, name, None) for name in TrainConfig.model_fields if name != "preset"}
    return config_from_preset(args.preset, **{**values, **fixed})


# --- inspect -----------------------------------------------------------------------------------


def _add_inspect(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", help="The file to check.")
    p.add_argument("--text", dest="text_column", help="Column holding the text (guessed if not given).")
    p.add_argument("--label", dest="label_column", help="Column holding the label (guessed if not given).")
    p.add_argument("--text-pair", dest="text_pair_column", help="Optional second text column.")
    p.add_argument("--model", default="bundled-minilm", help="Model whose tokenizer measures the lengths.")
    p.add_argument("--json", action="store_true", help="Print the report as JSON.")


@command("inspect", "Check a data file: columns, problems, class counts and text lengths.")(_add_inspect)
def run_inspect(args: argparse.Namespace) -> int:
    from bertstudio.inspection import inspect_file

    result = inspect_file(args.data, text_column=args.text_column, label_column=args.label_column,
                          text_pair_column=args.text_pair_column, model=args.model)
    print(json.dumps(result.to_dict(), indent=2, default=str) if args.json else result.to_text())
    return 1 if result.report.has_errors else 0


# --- train ---------------------------------------------------------------------------------------


def _add_train(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", help="Training file (CSV, TSV, JSONL, Parquet or Excel).")
    p.add_argument("--preset", default=DEFAULT_PRESET, help="Starting settings (see `bertstudio presets`).")
    p.add_argument("--runs-dir", default="runs", help="Where new run folders are created.")
    p.add_argument("--quiet", action="store_true", help="No progress bar.")
    p.add_argument("--seeds", type=int, default=1,
                   help="Train this many times with different seeds and report the mean and spread of macro-F1.")
    add_config_flags(p)


@command("train", "Fine-tune a classifier on a labeled file and save it.")(_add_train)
def run_train(args: argparse.Namespace) -> int:
    from bertstudio.progress import ConsoleProgress
    from bertstudio.pipeline import load_inputs, run_training

    if args.seeds > 1:
        from bertstudio.evaluation_cli import run_train_seeds

        return run_train_seeds(args)
    cfg = config_from_args(args, data=args.data)
    inputs = load_inputs(cfg)
    progress = ConsoleProgress(enabled=not args.quiet)
    progress.show_inputs(inputs)
    try:
        summary = run_training(inputs, emit=progress.on_event, runs_root=args.runs_dir)
    finally:
        progress.close()
    headline = {k: summary[k] for k in ("accuracy", "macro_f1", "train_seconds", "tune_seconds", "best_epoch",
                                        "run_dir", "evaluated_on", "tokens_per_second")}
    print(json.dumps(headline))
    return 0


# --- presets ------------------------------------------------------------------------------------


@command("presets", "List the presets and when to use each.")(lambda p: None)
def run_presets(args: argparse.Namespace) -> int:
    from bertstudio.config import list_presets

    for preset in list_presets().values():
        print(f"{preset.name:12s} {preset.use_when}")
    return 0


# --- entry point -----------------------------------------------------------------------------------


def _load_plugin_commands() -> None:
    """Modules that add subcommands; each is optional so a missing feature never breaks the CLI."""
    import importlib

    for module in ("bertstudio.evaluation_cli", "bertstudio.export_cli", "bertstudio.bench_cli"):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name != module:
                raise


def build_parser() -> argparse.ArgumentParser:
    _load_plugin_commands()
    parser = argparse.ArgumentParser(prog="bertstudio", description="Fine-tune BERT-family text classifiers.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, add_arguments, run) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(p)
        p.set_defaults(run=run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("Stopped.", file=sys.stderr)
        return 130


"""The ``bertstudio`` command.

Each stage contributes its subcommands from its own ``cli`` module (a ``COMMANDS`` tuple); this file only
assembles the parser and turns a :class:`UserError` into one line on stderr and exit code 2.  The last stdout
line of ``train``, ``evaluate``, ``export`` and ``predict`` is a JSON object with the results, for scripts.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

from bertstudio.benchmark import cli as benchmark_cli
from bertstudio.cli_args import OneLineParser
from bertstudio.data import cli as data_cli
from bertstudio.errors import UserError
from bertstudio.evaluation import cli as evaluation_cli
from bertstudio.export import cli as export_cli
from bertstudio.history import cli as history_cli
from bertstudio.predict import cli as predict_cli
from bertstudio.predict.locate import DataFileAsModel
from bertstudio.train import cli as train_cli

EXIT_USER_ERROR = 2
EXIT_BROKEN_PIPE = 1

# In the order of the product's flow: data, training, evaluation, prediction, export, benchmark, history.
STAGES = (data_cli, train_cli, evaluation_cli, predict_cli, export_cli, benchmark_cli, history_cli)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="bertstudio", description="Fine-tune BERT-family text classifiers.")
    sub = parser.add_subparsers(dest="command", required=True)
    for stage in STAGES:
        for command in stage.COMMANDS:
            p = sub.add_parser(command.name, help=command.help, description=command.help)
            command.add_arguments(p)
            p.set_defaults(run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = args.run(args)
        sys.stdout.flush()  # inside the try: a closed pipe shows here, not as a traceback at exit
        return code
    except UserError as err:
        print(f"error: {for_this_command(err, args)}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("Stopped.", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return reader_went_away()


def for_this_command(err: UserError, args: argparse.Namespace) -> UserError:
    """``err``, its example naming the command that was run where it has one (a data file given as the model:
    ``bertstudio serve runs/RUN``, not predict's ``--data`` example); the engine that raised it cannot know."""
    if isinstance(err, DataFileAsModel):
        return err.for_command(args.command, reads_data=hasattr(args, "data"))
    return err


def reader_went_away() -> int:
    """The output went to a pipe whose reader has closed it (``bertstudio runs show X | head``): stop quietly.

    Python's recipe ("Note on SIGPIPE" in the signal module's docs): point stdout at devnull, so the flush at exit
    does not fail again with a traceback, and exit 1 (the output was not all delivered).
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # a stdout without a descriptor (captured in tests)
        pass
    finally:
        os.close(devnull)
    return EXIT_BROKEN_PIPE

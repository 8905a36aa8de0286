"""``bertstudio inspect``: check a data file before training."""

from __future__ import annotations

import argparse
import json
import sys
import typing
from dataclasses import replace

from bertstudio.cli_args import LONG_TEXT_FIELDS, Command, add_config_flags, config_of_fields
from bertstudio.config import TrainConfig, check_long_text_settings
from bertstudio.data.inspect import inspect_file
from bertstudio.data.long_texts import long_text_outlook
from bertstudio.data.multilabel import LabelSettings

LAYOUT_FLAGS = ("task", "label_separator", "label_columns", "empty_labels")


def add_label_layout_flags(p: argparse.ArgumentParser) -> None:
    """train's multi-label flags (generated from TrainConfig), so inspect reads the labels the same way."""
    for name in LAYOUT_FLAGS:
        info = TrainConfig.model_fields[name]
        choices = list(typing.get_args(info.annotation)) if typing.get_origin(info.annotation) is typing.Literal \
            else None
        p.add_argument(info.json_schema_extra["cli"], dest=name, default=info.default, choices=choices,
                       help=(info.description or "").replace("%", "%%"))


def label_settings_of(args: argparse.Namespace) -> LabelSettings:
    columns = [c.strip() for c in args.label_columns.split(",") if c.strip()] if args.label_columns else None
    return LabelSettings(args.task, args.label_separator, columns, args.empty_labels)


def _add_inspect(p: argparse.ArgumentParser) -> None:
    p.add_argument("data", help="The file to check.")
    p.add_argument("--text", dest="text_column", help="Column holding the text (guessed if not given).")
    p.add_argument("--label", dest="label_column", help="Column holding the label (guessed if not given).")
    p.add_argument("--text-pair", dest="text_pair_column", help="Optional second text column.")
    p.add_argument("--model", default="bundled-minilm", help="Model whose tokenizer measures the lengths.")
    add_label_layout_flags(p)
    add_config_flags(p, ("sheet", *LONG_TEXT_FIELDS))  # train's flags: the sheet, and what long texts would get
    p.add_argument("--json", action="store_true", help="Print the report as JSON.")


def run_inspect(args: argparse.Namespace) -> int:
    long_texts = config_of_fields(args, LONG_TEXT_FIELDS)  # a bad combination is refused before the file is read
    result = inspect_file(args.data, text_column=args.text_column, label_column=args.label_column,
                          text_pair_column=args.text_pair_column, model=args.model, labels=label_settings_of(args),
                          sheet=args.sheet)
    if result.lengths is not None:
        check_long_text_settings(long_texts.long_texts, long_texts.max_length, long_texts.head_tokens,
                                 long_texts.window_stride, is_pair=bool(result.columns.text_pair))
        result = replace(result, long_texts=long_text_outlook(result.lengths, long_texts))
    print(json.dumps(result.to_dict(), indent=2, default=str) if args.json else result.to_text())
    if result.report.has_errors:  # the report above says it all; one line on stderr for scripts and logs
        print("error: " + " ".join(f.to_text().removeprefix("ERROR: ") for f in result.report.errors), file=sys.stderr)
        return 1
    return 0


COMMANDS = (
    Command('inspect', 'Check a data file: columns, problems, class counts and text lengths.',
            _add_inspect, run_inspect),
)

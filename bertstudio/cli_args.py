"""What every stage's commands share: the :class:`Command` record, and flags generated from :class:`TrainConfig`.

Flags come from the config's fields, so the CLI can never drift from the config: a new setting with a ``cli``
name in :mod:`bertstudio.config` is a new flag of ``train`` (and ``train-seeds``) with no other change.
"""

from __future__ import annotations

import argparse
import types
import typing
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Callable

from bertstudio.config import TrainConfig, config_from_preset, make_config


@dataclass(frozen=True)
class Command:
    """One subcommand: its name, its one-line help, how it reads its flags and what it runs."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]  # returns the exit code


def no_arguments(parser: argparse.ArgumentParser) -> None:
    """For commands that take no flags."""


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


# What is kept of long texts: `train` takes these flags with the others, `inspect` only these (and says what they
# would do to the file's texts), so both read them the same way.
LONG_TEXT_FIELDS = ("max_length", "long_texts", "head_tokens", "window_stride", "window_aggregation", "max_windows")


def add_config_flags(parser: argparse.ArgumentParser, fields: Collection[str] | None = None) -> None:
    """One flag per config field that has a ``cli`` name (only those of ``fields`` when given); defaults stay
    None so presets can apply."""
    for name, info in TrainConfig.model_fields.items():
        extra = info.json_schema_extra or {}
        flag = extra.get("cli") if isinstance(extra, dict) else None
        if not flag or name == "preset" or (fields is not None and name not in fields):
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


def config_of_fields(args: argparse.Namespace, fields: Collection[str]) -> TrainConfig:
    """The flags of ``fields`` that were given, over the config's defaults (validated as `train` validates them)."""
    return make_config(**{name: getattr(args, name) for name in fields if getattr(args, name, None) is not None})

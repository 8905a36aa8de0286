"""What every stage's commands share: the :class:`Command` record, and flags generated from :class:`TrainConfig`.

Flags come from the config's fields, so the CLI can never drift from the config: a new setting with a ``cli``
name in :mod:`bertstudio.config` is a new flag of ``train`` (and ``train-seeds``) with no other change.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import types
import typing
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from bertstudio.config import DEFAULT_PRESET, TrainConfig, config_from_preset, make_config
from bertstudio.errors import UserError


@dataclass(frozen=True)
class Command:
    """One subcommand: its name, its one-line help, how it reads its flags and what it runs."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]  # returns the exit code


def no_arguments(parser: argparse.ArgumentParser) -> None:
    """For commands that take no flags."""


def positive_int(text: str) -> int:
    """An argparse type for counts and sizes: 0 or -1 would mean nothing sensible (or a 50x slower run)."""
    return _int_at_least(text, 1)


def non_negative_int(text: str) -> int:
    """An argparse type for counts where 0 has a meaning of its own (``export --rows 0``: all rows)."""
    return _int_at_least(text, 0)


def _int_at_least(text: str, lowest: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None
    if value < lowest:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least {lowest}, got '{text}'")
    return value


def port_number(text: str) -> int:
    """An argparse type for a TCP port: 1-65535 (0 would make the system pick one the message could not name)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got '{text}'") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is a number from 1 to 65535, got '{text}' (for example 8000)")
    return value


def check_writable_folder(folder: str | os.PathLike[str], flag: str, given: str | None = None) -> None:
    """Refuse a folder that cannot be created or written into, naming ``flag`` and the path as the person typed it
    (``given``, default ``folder``); leaves nothing behind.

    Called before reading data or loading a model, so a bad ``--out`` is said at once instead of as a traceback
    after minutes of work.  Missing folders are created to find out (permissions, read-only or virtual file
    systems such as /sys and /proc only tell by refusing) and removed again, innermost first.
    """
    target = Path(folder).expanduser()
    shown = f"{flag} {given if given is not None else folder}"
    hint = f"Choose another {flag}; missing folders are created."
    in_the_way = _file_in_the_way(target)
    if in_the_way is not None:
        raise UserError(f"{shown} cannot be used: {in_the_way} is a file, not a folder.", hint)
    created = [f for f in (target, *target.parents) if not f.exists()]
    try:
        target.mkdir(parents=True, exist_ok=True)
        probe = target / f".bertstudio-write-check-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as err:
        raise UserError(f"Cannot create or write into {target} ({shown}): {err.strerror or err}.", hint) from None
    finally:
        for made in created:
            with contextlib.suppress(OSError):
                made.rmdir()


def check_writable_file(path: str | os.PathLike[str], flag: str, example: str) -> None:
    """Refuse an output file (``--out``) that names a folder, or whose folder cannot be created or written;
    ``example`` is a file name to suggest inside a folder given by mistake."""
    target = Path(path).expanduser()
    if target.is_dir():
        raise UserError(f"{flag} {path} names a folder; a file is written there.",
                        f"Name a file inside it, for example {flag} {target / example}.")
    check_writable_folder(target.parent, flag, given=str(path))


def _file_in_the_way(target: Path) -> Path | None:
    """The nearest existing place at or above ``target``, when it is a file (``data.csv``, ``data.csv/x``)."""
    for place in (target, *target.parents):
        if place.exists():
            return None if place.is_dir() else place
    return None


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


def given_config_flags(args: argparse.Namespace) -> list[str]:
    """The config flags given on the command line (those left at None were not), as typed: ``--lr``."""
    flags = []
    for name, info in TrainConfig.model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        if extra.get("cli") and name != "preset" and getattr(args, name, None) is not None:
            flags.append(extra["cli"])
    return flags


def config_from_args(args: argparse.Namespace, **fixed: Any) -> TrainConfig:
    values = {name: getattr(args, name, None) for name in TrainConfig.model_fields if name != "preset"}
    # train's --preset is None when not given (so --resume can tell it apart from one typed)
    return config_from_preset(getattr(args, "preset", None) or DEFAULT_PRESET, **{**values, **fixed})


def config_of_fields(args: argparse.Namespace, fields: Collection[str]) -> TrainConfig:
    """The flags of ``fields`` that were given, over the config's defaults (validated as `train` validates them)."""
    return make_config(**{name: getattr(args, name) for name in fields if getattr(args, name, None) is not None})

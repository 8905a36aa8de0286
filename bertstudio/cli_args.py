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
from bertstudio.errors import UserError, closest_name


@dataclass(frozen=True)
class Command:
    """One subcommand: its name, its one-line help, how it reads its flags and what it runs."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]  # returns the exit code


class OneLineParser(argparse.ArgumentParser):
    """A parser whose refusals are one line on stderr, ``error: <what is wrong> <what to do>``, exit 2, as every
    other refusal of the command (docs/RELIABILITY.md); its subcommands' parsers are of this class too.

    argparse printed the whole usage (~30 lines for train) above the error, named an unknown flag under the
    top-level usage, and took an abbreviation as the flag it starts (``--max-step 20`` ran as ``--max-steps``):
    here an unknown flag or choice gets the one it likely meant, and no flag is ever abbreviated."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> typing.NoReturn:
        said = message if message.endswith(("?", ".")) else f"{message}."
        self.exit(2, f"error: {said} See {self.prog} --help.\n")

    def parse_args(self, args: Any = None, namespace: Any = None) -> argparse.Namespace:  # type: ignore[override]
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            # Said by the subcommand that read them, with its own flags to suggest from.
            command = self._command_parser(parsed)
            command.error(command.unrecognized(extras))
        return parsed

    def unrecognized(self, extras: list[str]) -> str:
        """What to say of arguments no flag took: the first unknown flag, with the flag it likely meant."""
        flags = [extra.split("=", 1)[0] for extra in extras if extra.startswith("-") and extra != "-"]
        if not flags:
            return f"unrecognized arguments: {' '.join(extras)}"
        meant = closest_name(flags[0], [s for action in self._actions for s in action.option_strings])
        return f"{self.prog} has no option {flags[0]}" + (f"; did you mean {meant}?" if meant else "")

    def _command_parser(self, parsed: argparse.Namespace) -> OneLineParser:
        """The parser of the subcommand ``parsed`` ran (innermost, for ``runs list``), or this one."""
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                chosen = action.choices.get(getattr(parsed, action.dest, None) or "")
                if isinstance(chosen, OneLineParser):
                    return chosen._command_parser(parsed)
        return self

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        """argparse's check of a choice, with the choice it likely meant (``--task multilabel``)."""
        if action.choices is None or value in action.choices:
            return
        choices = ", ".join(map(str, action.choices))
        meant = closest_name(value, map(str, action.choices))
        suggestion = f"; did you mean {meant!r}?" if meant else ""
        if isinstance(action, argparse._SubParsersAction):  # argparse said "argument command: invalid choice"
            raise argparse.ArgumentError(None, f"{value!r} is not a command of {self.prog} (the commands: "
                                               f"{choices}){suggestion}")
        raise argparse.ArgumentError(action, f"invalid choice: {value!r} (choose from {choices}){suggestion}")


def no_arguments(parser: argparse.ArgumentParser) -> None:
    """For commands that take no flags."""


def positive_int(text: str) -> int:
    """An argparse type for counts and sizes: 0 or -1 would mean nothing sensible (or a 50x slower run)."""
    return _int_at_least(text, 1)


def non_negative_int(text: str) -> int:
    """An argparse type for counts where 0 has a meaning of its own (``export --rows 0``: all rows)."""
    return _int_at_least(text, 0)


def whole_number(text: str) -> int:
    """An argparse type for a whole number, refused in words ("invalid int value" named Python's type)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got '{text}'") from None


def number(text: str) -> float:
    """An argparse type for a number such as 0.01 or 2e-5."""
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number such as 0.01 or 2e-5, got '{text}'") from None


def _int_at_least(text: str, lowest: int) -> int:
    value = whole_number(text)
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
        kwargs: dict[str, Any] = {"dest": name, "default": None,
                                  "help": (info.description or "").replace("%", "%%") + default_note(info)}
        if typing.get_origin(kind) is typing.Literal:
            kwargs["choices"] = list(typing.get_args(kind))
        elif kind is bool:
            kwargs.update(type=_parse_bool, nargs="?", const=True, metavar="yes|no")
        elif kind in (int, float):
            kwargs["type"] = whole_number if kind is int else number
        parser.add_argument(flag, **kwargs)


def default_note(info: Any) -> str:
    """" Default: 0.01." for a flag whose description does not say its default.  The flag's own default stays None
    (so a preset can set it), which argparse's %(default)s would show; the setting's default is what applies."""
    default, description = info.default, info.description or ""
    if default is None or "default" in description.lower() or (default == "auto" and "auto" in description):
        return ""
    if isinstance(default, bool):
        shown = "yes" if default else "no"
    else:
        shown = f"{default:g}" if isinstance(default, float) else str(default)
    return f"{'' if description.endswith('.') else '.'} Default: {shown}."


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

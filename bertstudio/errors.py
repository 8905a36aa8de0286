"""Errors a user can act on.

Anything raised as a :class:`UserError` is the user's to fix (a bad file, a
wrong column name, an impossible setting).  The CLI prints it as one line and
exits non-zero; the app shows it as a warning.  Everything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import os
from collections.abc import Iterable


class UserError(Exception):
    """A problem with the user's input, with a plain-language fix."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} {self.hint}" if self.hint else self.message


class DataError(UserError):
    """The data file or its columns cannot be used as given."""


class ConfigError(UserError):
    """A setting has a value the engine cannot use."""


class ModelError(UserError):
    """A model cannot be found, loaded or trusted."""


class DiskFullError(UserError):
    """The disk ran out of space while writing; what was being written was removed again."""


def is_disk_full(exc: BaseException) -> bool:
    """True for "No space left on device" (and a full quota), however deep in the causes it is.

    safetensors (Rust) reports it as a SafetensorError, not an OSError: "I/O error: No space left on device
    (os error 28)" (seen on a full tmpfs), so its words count too.
    """
    import errno

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if os.strerror(errno.ENOSPC) in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def disk_full_error(what: str, folder, needed_bytes: int | None = None, elsewhere: str = "use a folder on another "
                    "disk") -> DiskFullError:
    """A plain message for a full disk: what could not be written, where, how much is needed and free."""
    import shutil

    try:
        free = f"{shutil.disk_usage(folder).free / 1e6:,.1f} MB"
    except OSError:
        free = "unknown"
    needed = f"about {needed_bytes / 1e6:,.1f} MB is needed, " if needed_bytes else ""
    return DiskFullError(f"The disk is full: {what} could not be written to {folder} ({needed}{free} free). "
                         "Nothing half-written was kept.",
                         hint="Free some disk space (old runs and exports are the largest files) or "
                              f"{elsewhere}, then try again.")


def closest_name(word: object, known: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The name of ``known`` that ``word`` is most likely a misspelling of ('max_row' -> 'max_rows'); None when
    none is close (``cutoff``: how alike, 0-1).  One judge of "close" for every "did you mean" (settings, limits,
    flags, choices, models)."""
    import difflib

    close = difflib.get_close_matches(str(word), list(known), n=1, cutoff=cutoff)
    return close[0] if close else None


def unknown_keys_error(path: object, unknown: list[str], known: Iterable[str], what: str, hint: str) -> ConfigError:
    """A settings file's keys that are not ``what`` (a setting, a limit): the first named, with the key it likely
    meant, and how many more."""
    key = unknown[0]
    meant = closest_name(key, known)
    more = f" (and {len(unknown) - 1} more: {', '.join(map(repr, unknown[1:]))})" if len(unknown) > 1 else ""
    return ConfigError(f"The settings file {path} has '{key}'{more}, which is not a {what}."
                       + (f" Did you mean '{meant}'?" if meant else ""), hint)

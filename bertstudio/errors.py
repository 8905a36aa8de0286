"""Errors a user can act on.

Anything raised as a :class:`UserError` is the user's to fix (a bad file, a
wrong column name, an impossible setting).  The CLI prints it as one line and
exits non-zero; the app shows it as a warning.  Everything else is a bug and
keeps its traceback.
"""

from __future__ import annotations


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

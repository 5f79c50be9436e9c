"""Errors that name the file at fault and what was expected there."""
from __future__ import annotations

from pathlib import Path


class MelibError(Exception):
    """Base class of every error melib raises on purpose."""


class DataError(MelibError, ValueError):
    """Input data that is missing or not in the expected form.

    The message always names the file (or folder) and what was expected there.
    """

    def __init__(self, path: str | Path | None, expected: str, found: str | None = None):
        self.path = None if path is None else Path(path)
        self.expected = expected
        self.found = found
        where = f"{self.path}: " if self.path is not None else ""
        msg = f"{where}expected {expected}"
        if found is not None:
            msg += f", found {found}"
        super().__init__(msg)


class ConfigError(MelibError, ValueError):
    """A parameter, protocol, scheme or name that melib does not know, with what to change."""

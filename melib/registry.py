"""One registry per axis (models, input pipelines, protocols): a name maps to its entry, added once and
looked up with an error that lists what there is."""
from __future__ import annotations

from typing import Any

from .errors import ConfigError


class Registry(dict):
    """``name -> entry`` for one kind of thing (``kind`` names it in errors)."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind

    def add(self, name: str, entry: Any) -> Any:
        if name in self:
            raise ConfigError(f"{self.kind} {name!r} registered twice")
        self[name] = entry
        return entry

    def entry(self, name: str) -> Any:
        if name not in self:
            raise ConfigError(f"unknown {self.kind} {name!r}; choose one of {', '.join(sorted(self))}")
        return self[name]

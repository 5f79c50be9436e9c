"""Jobs with dependencies run side by side: each starts once the jobs it depends on have finished, at most
``jobs`` at a time, the costliest of the ready ones first (``melib study --jobs``).

``run(names, deps, start, jobs, cost)``: ``start(name)`` begins a job and returns a handle whose ``poll()`` is
None while it runs, else its outcome; ``run`` returns ``{name: outcome}``. A job's outcome, failure included,
releases the jobs that depend on it (they decide what to do with what it left). Ctrl-C raises
:class:`Interrupted`, which holds the handles still running, for the caller to stop.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .errors import ConfigError

POLL_S = 0.2


class Interrupted(KeyboardInterrupt):
    """Ctrl-C while jobs ran: ``running`` ({name: handle}) and ``finished`` (names, in finishing order)."""

    def __init__(self, running: dict[str, Any], finished: list[str]):
        super().__init__("interrupted")
        self.running, self.finished = running, finished


def order(names: Sequence[str], deps: Mapping[str, set[str]]) -> list[str]:
    """``names`` in an order that puts every job after the jobs it depends on (``deps``: {name: names}; a
    dependency outside ``names`` is not waited for), keeping ``names``' order otherwise; ConfigError on a
    cycle."""
    names = list(names)
    left, out = {n: set(deps.get(n, ())) & set(names) for n in names}, []
    while left:
        ready = [n for n in names if n in left and not left[n]]
        if not ready:
            raise ConfigError(f"the jobs {', '.join(sorted(left))} depend on each other in a cycle")
        out.append(ready[0])
        del left[ready[0]]
        for d in left.values():
            d.discard(ready[0])
    return out


def run(names: Sequence[str], deps: Mapping[str, set[str]], start: Callable[[str], Any], jobs: int,
        cost: Mapping[str, float] | None = None, poll_s: float = POLL_S) -> dict[str, Any]:
    """Run every job of ``names`` (see the module docstring); among the ready jobs the one of highest ``cost``
    starts first, ties in ``names``' order."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"jobs must be a positive integer, not {jobs!r}")
    names = order(names, deps)  # checks for cycles
    rank = {n: (-float((cost or {}).get(n, 0.0)), i) for i, n in enumerate(names)}
    waiting = {n: set(deps.get(n, ())) & set(names) for n in names}
    running: dict[str, Any] = {}
    outcomes: dict[str, Any] = {}
    try:
        while waiting or running:
            ready = sorted((n for n, d in waiting.items() if not d), key=rank.__getitem__)
            for name in ready[:jobs - len(running)]:
                del waiting[name]
                running[name] = start(name)
            finished = []
            for name, handle in running.items():
                out = handle.poll()
                if out is not None:
                    outcomes[name] = out
                    finished.append(name)
            for name in finished:
                del running[name]
                for d in waiting.values():
                    d.discard(name)
            if running and not finished:
                time.sleep(poll_s)
    except KeyboardInterrupt:
        raise Interrupted(dict(running), list(outcomes)) from None
    return outcomes

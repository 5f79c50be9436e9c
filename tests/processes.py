"""Process checks for the tests that kill or interrupt melib (Linux /proc; elsewhere the kernel is asked)."""
from __future__ import annotations

import os
import time
from pathlib import Path


def running(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie waiting to be reaped does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def still_running(pids, within: float) -> list[int]:
    """Those of ``pids`` still running after waiting up to ``within`` seconds for all to end."""
    deadline = time.monotonic() + within
    while any(running(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.2)
    return [p for p in pids if running(p)]

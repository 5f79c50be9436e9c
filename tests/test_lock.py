"""The environment is the locked one: requirements.lock (and each Python version's own lock,
requirements-py3X.lock, where that version resolves differently) pins every dependency pyproject.toml names,
within its ranges, environment.yml installs from it, and the running environment has exactly the versions of its
Python's lock."""
from __future__ import annotations

import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
LOCKS = sorted(p.name for p in ROOT.glob("requirements*.lock"))


def running_lock() -> Path:
    """The lock of the running Python, as the Makefile picks it."""
    own = ROOT / "requirements-py{}{}.lock".format(*sys.version_info[:2])
    return own if own.is_file() else ROOT / "requirements.lock"


def _lock(path: Path | None = None) -> dict[str, str]:
    path = path or running_lock()
    pins = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        assert m, f"{path.name}: {line!r} is not an exact pin NAME==VERSION"
        pins[canonicalize_name(m[1])] = m[2]
    return pins


def _declared() -> list[Requirement]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(meta["dependencies"])
    for extra in meta.get("optional-dependencies", {}).values():
        reqs += extra
    return [Requirement(r) for r in reqs]


@pytest.mark.parametrize("lock", LOCKS)
def test_lock_pins_every_declared_dependency_within_its_range(lock):
    pins = _lock(ROOT / lock)
    for req in _declared():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} (pyproject.toml) is not in {lock}: run `make lock`"
        assert req.specifier.contains(Version(pins[name]), prereleases=True), \
            f"{lock} pins {req.name}=={pins[name]}, outside pyproject's {req.specifier}"


def test_version_locks_keep_the_main_locks_versions():
    """A Python version's own lock only adds what that version resolves besides requirements.lock's pins."""
    main = _lock(ROOT / "requirements.lock")
    for lock in LOCKS:
        m = re.fullmatch(r"requirements-py3(\d+)\.lock", lock)
        if lock == "requirements.lock":
            continue
        assert m, f"{lock}: a lock of its own is named requirements-py3X.lock"
        assert SpecifierSet(_requires_python()).contains(f"3.{m[1]}"), f"{lock}: pyproject refuses Python 3.{m[1]}"
        own = _lock(ROOT / lock)
        assert not main.keys() - own.keys(), f"{lock} lacks {sorted(main.keys() - own.keys())}"
        changed = {n: (main[n], own[n]) for n in main if own[n] != main[n]}
        assert not changed, f"{lock} pins other versions than requirements.lock: {changed}"
        assert own.keys() - main.keys(), f"{lock} adds nothing to requirements.lock: delete it"


def _requires_python() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]


def test_environment_yml_installs_the_lock():
    text = (ROOT / "environment.yml").read_text()
    assert "-r requirements.lock" in text
    assert "torch==2.13.0" in text


def test_installed_versions_are_the_locked_ones():
    wrong = []
    for name, pin in sorted(_lock().items()):
        try:
            have = Version(metadata.version(name))
        except metadata.PackageNotFoundError:
            wrong.append(f"{name}: locked {pin}, not installed")
            continue
        if have.public != Version(pin).public:
            wrong.append(f"{name}: locked {pin}, installed {have}")
    assert not wrong, f"{running_lock().name}: run `make setup` (or `make lock` to re-pin):\n" + "\n".join(wrong)

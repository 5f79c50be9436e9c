"""The environment is the locked one: requirements.lock pins every dependency pyproject.toml names, within its
ranges, environment.yml installs from it, and the running environment has exactly the locked versions."""
from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def _lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        assert m, f"requirements.lock: {line!r} is not an exact pin NAME==VERSION"
        pins[canonicalize_name(m[1])] = m[2]
    return pins


def _declared() -> list[Requirement]:
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(meta["dependencies"])
    for extra in meta.get("optional-dependencies", {}).values():
        reqs += extra
    return [Requirement(r) for r in reqs]


def test_lock_pins_every_declared_dependency_within_its_range():
    pins = _lock()
    for req in _declared():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} (pyproject.toml) is not in requirements.lock: run `make lock`"
        assert req.specifier.contains(Version(pins[name]), prereleases=True), \
            f"requirements.lock pins {req.name}=={pins[name]}, outside pyproject's {req.specifier}"


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
    assert not wrong, "run `make setup` (or `make lock` to re-pin):\n" + "\n".join(wrong)

"""A built wheel is a working melib: it carries every data file of the package (manifests, published numbers,
deviations), LICENSE and CITATION.cff agree with pyproject, and a non-editable install loads a dataset."""
from __future__ import annotations

import json
import os
import re
import shutil
import site
import subprocess
import sys
import sysconfig
import textwrap
import tomllib
import zipfile
from pathlib import Path

import pytest
import yaml
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _clean_env(home: Path) -> dict[str, str]:
    """The environment without PYTHONPATH & co. (which may put this checkout's melib in sight) and MELIB_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "MELIB_"))}
    env["MELIB_HOME"] = str(home)
    return env


def _package_data() -> set[str]:
    """Every file of melib/ that is not Python source, relative to the repository root."""
    return {p.relative_to(ROOT).as_posix() for p in (ROOT / "melib").rglob("*")
            if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """melib's wheel, built (setuptools, no build isolation) from a copy of the sources."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT / "melib", src / "melib", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "-w", str(tmp / "dist"), str(src)], check=True, capture_output=True, text=True)
    (built,) = (tmp / "dist").glob("melib-*.whl")
    return built


def test_wheel_carries_every_package_data_file_and_the_licence(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    data = _package_data()
    assert "melib/manifests/casme2.yaml" in data and "melib/manifests/megc2019_composite_3class.csv" in data
    assert not data - names, f"{wheel.name} lacks {sorted(data - names)}: add them to package-data in pyproject.toml"
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)


def test_installed_wheel_loads_a_dataset(wheel, tmp_path):
    """The wheel installed into a scratch venv (its dependencies seen from the running environment's
    site-packages, behind the venv's own) generates a tiny synthetic set and loads it, reading the manifests
    and the MEGC2019 list from the installed copy, not from this checkout."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    env = _clean_env(tmp_path / "home")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", str(wheel)],
                   check=True, capture_output=True, text=True, env=env)
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             check=True, capture_output=True, text=True).stdout.strip()
    deps = [p for p in {sysconfig.get_path("purelib"), sysconfig.get_path("platlib"), *site.getsitepackages()}
            if Path(p).is_dir()]
    (Path(purelib) / "zz_running_env.pth").write_text("\n".join(deps) + "\n")
    script = textwrap.dedent(f"""
        import melib
        from pathlib import Path
        assert Path(melib.__file__).is_relative_to({str(venv)!r}), melib.__file__
        from melib import config, datasets, labels, synth
        assert config.MANIFESTS.is_relative_to({str(venv)!r}), config.MANIFESTS
        root = synth.generate_default(Path("synth"), seed=0, progress=False, subjects=1, clips_per_subject=2,
                                      width=128, height=96, frames=(8, 10))
        samples = datasets.load("synth", root)
        print("clips", len(samples), sorted(set(samples["dataset"])))
        print("casme2 manifest", datasets.manifest("casme2")["display"])
        print("megc2019 list", len(labels.megc2019_list()))
    """)
    run = subprocess.run([str(py), "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stdout.splitlines()
    assert "clips 6 ['casme2', 'samm', 'smic']" in lines
    assert "casme2 manifest CASME II" in lines
    assert any(line.startswith("megc2019 list ") and int(line.split()[-1]) > 400 for line in lines), lines


def test_citation_and_licence_match_pyproject():
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0"
    assert {"message", "title", "authors", "version", "license", "date-released"} <= set(cff)
    assert cff["version"] == PROJECT["version"], "CITATION.cff's version is not pyproject's"
    assert cff["license"] == PROJECT["license"] == "MIT"
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")


def _interpreter(version: str) -> str | None:
    """A working ``python<version>``: on PATH, else one that pyenv installed (its shim alone may refuse)."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for exe in [shutil.which(f"python{version}"), *sorted(map(str, pyenv.glob(f"{version}.*/bin/python{version}")))]:
        if exe is None:
            continue
        run = subprocess.run([exe, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True,
                             text=True)
        if run.returncode == 0 and run.stdout.strip() == version:
            return exe
    return None


@pytest.mark.slow
# 3.12 only: the version the GPU machines labs rent ship; 3.13 passed the same test by hand (minutes each).
@pytest.mark.parametrize("version", ["3.12"])
def test_wheel_installs_and_loads_a_dataset_on_python(version, wheel, tmp_path):
    """On another admitted Python: its lock resolves whole (pip's dry run, torch included), and the wheel with
    its locked dependencies but torch (whose only build on PyPI for this Python is the multi-GB CUDA one)
    installs into a fresh venv, imports and loads a tiny synthetic set."""
    exe = _interpreter(version)
    if exe is None:
        pytest.skip(f"no Python {version} interpreter here (not on PATH, not in pyenv): not tested")
    assert SpecifierSet(PROJECT["requires-python"]).contains(version), f"pyproject refuses Python {version}"
    own = ROOT / f"requirements-py{version.replace('.', '')}.lock"
    lock = own if own.is_file() else ROOT / "requirements.lock"
    venv = tmp_path / "venv"
    subprocess.run([exe, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = str(venv / "bin" / "python")
    pip = [sys.executable, "-m", "pip", "--python", py]
    env = _clean_env(tmp_path / "home")
    report = tmp_path / "report.json"
    resolved = subprocess.run([*pip, "install", "-q", "--dry-run", "--report", str(report), "-r", str(lock)],
                              capture_output=True, text=True, env=env)
    assert resolved.returncode == 0, f"{lock.name} does not resolve on Python {version}:\n{resolved.stderr[-3000:]}"
    names = {re.sub(r"[-_.]+", "-", i["metadata"]["name"].lower()) for i in json.loads(report.read_text())["install"]}
    pinned = {re.sub(r"[-_.]+", "-", line.split("==")[0].lower()) for line in lock.read_text().splitlines()
              if "==" in line and not line.startswith("#")}
    extra = {n for n in names - pinned if not re.match(r"nvidia-|cuda-|triton$", n)}
    assert not extra, f"{lock.name} is not whole on Python {version}: pip adds {sorted(extra)} (`make lock PY=...`)"

    deps = [d for d in PROJECT["dependencies"] if not d.startswith("torch")]
    for args in (["--no-deps", str(wheel)], ["-c", str(lock), *deps]):
        run = subprocess.run([*pip, "install", "-q", "--no-compile", *args], capture_output=True, text=True, env=env)
        assert run.returncode == 0, run.stderr[-3000:]
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        import melib
        from melib import datasets, labels, synth
        assert Path(melib.__file__).is_relative_to({str(venv)!r}), melib.__file__
        root = synth.generate_default(Path("synth"), seed=0, progress=False, subjects=1, clips_per_subject=2,
                                      width=128, height=96, frames=(8, 10))
        samples = labels.assign(datasets.load("synth", root), "megc2019")
        print("python %d.%d" % sys.version_info[:2], "clips", len(samples), "labelled", samples["label"].notna().sum())
    """)
    run = subprocess.run([py, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"python {version} clips 6 labelled" in run.stdout, run.stdout

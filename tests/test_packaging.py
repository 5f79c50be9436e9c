"""A built wheel is a working melib: it carries every data file of the package (manifests, published numbers,
deviations), LICENSE and CITATION.cff agree with pyproject, and a non-editable install loads a dataset."""
from __future__ import annotations

import os
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

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


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
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", str(wheel)],
                   check=True, capture_output=True, text=True)
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
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "MELIB_"))}
    env["MELIB_HOME"] = str(tmp_path / "home")
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

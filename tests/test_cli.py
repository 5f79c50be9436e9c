import subprocess
import sys

import pytest

from melib import cli


def run(*args, env_home):
    import os
    env = {**os.environ, "MELIB_HOME": str(env_home), "MELIB_CONFIG": str(env_home / "absent.yaml")}
    for k in list(env):
        if k.startswith("MELIB_DATA_"):
            del env[k]
    return subprocess.run([sys.executable, "-m", "melib.cli", *args], capture_output=True, text=True, env=env)


def test_help_lists_every_command(tmp_path):
    out = run("--help", env_home=tmp_path)
    assert out.returncode == 0
    for command in ("data", "cache", "results", "study"):
        assert command in out.stdout


def test_data_check_reports_missing_releases_and_how_to_point_at_them(tmp_path):
    out = run("data", "check", "casme2", env_home=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "casme2" in out.stdout and "not configured" in out.stdout
    assert "MELIB_DATA_CASME2" in out.stdout


def test_a_bad_root_is_a_clear_error_not_a_traceback(tmp_path):
    import os
    env = {**os.environ, "MELIB_HOME": str(tmp_path), "MELIB_DATA_SAMM": str(tmp_path / "nowhere")}
    out = subprocess.run([sys.executable, "-m", "melib.cli", "data", "check", "samm"], capture_output=True,
                         text=True, env=env)
    assert "Traceback" not in out.stderr
    assert "nowhere" in out.stdout + out.stderr


def test_cache_info_and_clear_on_an_empty_cache(tmp_path):
    assert run("cache", "info", env_home=tmp_path).returncode == 0
    out = run("cache", "clear", env_home=tmp_path)
    assert out.returncode == 0 and "removed 0" in out.stdout


def test_results_without_records(tmp_path):
    out = run("results", "--runs", str(tmp_path / "runs"), env_home=tmp_path)
    assert out.returncode == 0 and "no run records" in out.stdout


def test_unknown_profile_is_refused():
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["study", "--profile", "huge"])


def test_cache_clear_never_leaves_the_cache(tmp_path):
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "keep.json").write_text("{}")
    (tmp_path / "melib.yaml").write_text("data: {}\n")
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (outside / "thesis.tex").write_text("chapter")
    for name in ("../..", str(outside), "..", "../../runs"):
        out = run("cache", "clear", "--function", name, env_home=tmp_path)
        assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
        assert "cached function" in out.stderr
    assert (tmp_path / "runs" / "keep.json").is_file() and (tmp_path / "melib.yaml").is_file()
    assert (outside / "thesis.tex").read_text() == "chapter"


def test_cache_commands_on_an_ordinary_folder_leave_it_alone(tmp_path):
    import os
    folder = tmp_path / "work"
    (folder / "notebooks").mkdir(parents=True)
    (folder / "notebooks" / "a.ipynb").write_text("{}")
    env = {**os.environ, "MELIB_HOME": str(tmp_path), "MELIB_CACHE": str(folder)}
    info = subprocess.run([sys.executable, "-m", "melib.cli", "cache", "info"], capture_output=True, text=True,
                          env=env)
    assert info.returncode == 0 and "not melib's" in info.stdout and "notebooks" in info.stdout
    clear = subprocess.run([sys.executable, "-m", "melib.cli", "cache", "clear"], capture_output=True, text=True,
                           env=env)
    assert clear.returncode == 0 and "removed 0 cache entries" in clear.stdout and "left" in clear.stdout
    assert (folder / "notebooks" / "a.ipynb").read_text() == "{}"


@pytest.mark.parametrize("content", [b"{}", b"\xff\xfe\x00 not utf-8"])
def test_results_with_an_unusable_record_names_it(tmp_path, content):
    bad = tmp_path / "runs" / "m" / "0123456789abcdef" / "fold000.json"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(content)
    out = run("results", "--runs", str(tmp_path / "runs"), env_home=tmp_path)
    assert "Traceback" not in out.stderr, out.stderr
    assert str(bad) in out.stdout + out.stderr and "skipped 1" in out.stdout + out.stderr


def test_data_check_exits_non_zero_when_a_configured_dataset_is_missing_or_broken(tmp_path):
    import os
    env = {k: v for k, v in os.environ.items() if not k.startswith("MELIB_DATA_")}
    env.update(MELIB_HOME=str(tmp_path), MELIB_CONFIG=str(tmp_path / "absent.yaml"))
    check = [sys.executable, "-m", "melib.cli", "data", "check"]
    out = subprocess.run(check, capture_output=True, text=True, env={**env, "MELIB_DATA_SAMM": str(tmp_path / "no")})
    assert out.returncode == 1 and "does not exist" in out.stdout
    (tmp_path / "empty").mkdir()
    out = subprocess.run(check + ["casme2"], capture_output=True, text=True,
                         env={**env, "MELIB_DATA_CASME2": str(tmp_path / "empty")})
    assert out.returncode == 1 and "CASME2_RAW_selected" in out.stdout and "Traceback" not in out.stderr


@pytest.mark.parametrize("text", ["data: {casme2: [unclosed\n", "data:\n  - casme2\n"])
def test_a_malformed_config_file_is_one_line_and_exit_2(tmp_path, text):
    import os
    (tmp_path / "melib.yaml").write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith("MELIB_DATA_") and k != "MELIB_CONFIG"}
    env["MELIB_HOME"] = str(tmp_path)
    for args in (["data", "check"], ["study", "--profile", "paper", "--data", "real", "--notebooks", "00_datasets"]):
        out = subprocess.run([sys.executable, "-m", "melib.cli", *args], capture_output=True, text=True, env=env)
        assert out.returncode == 2, (args, out.stderr)
        assert "Traceback" not in out.stderr
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("melib: error: ") and "melib.yaml" in lines[0]


def test_data_check_reports_the_four_new_releases_from_fixture_trees(tmp_path):
    """`melib data check` on CAS(ME)³ A and C, 4DME and MMEW fixture trees built like the releases: each is
    present, read from its sheet, counted against its manifest, with its fixes and exclusions listed; exit 0."""
    import os

    import release_fixtures as rf

    trees = {"4dme": rf.make_4dme(tmp_path / "4DME"), "casme3a": rf.make_casme3a(tmp_path / "CASME3"),
             "casme3c": rf.make_casme3c(tmp_path / "CASME3_C"), "mmew": rf.make_mmew(tmp_path / "MMEW")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("MELIB_DATA_")}
    env.update(MELIB_HOME=str(tmp_path), MELIB_CONFIG=str(tmp_path / "absent.yaml"),
               **{f"MELIB_DATA_{name.upper()}": str(root) for name, root in trees.items()})
    out = subprocess.run([sys.executable, "-m", "melib.cli", "data", "check", *trees], capture_output=True,
                         text=True, env=env)
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    table = {line.split()[0]: line.split() for line in out.stdout.splitlines()[2:7] if line.strip()}
    clips = {"4dme": ("3", "267"), "casme3a": ("4", "860"), "casme3c": ("3", "166"), "mmew": ("4", "300")}
    for name, root in trees.items():
        assert table[name][1:3] == ["present", str(root)] and tuple(table[name][3:5]) == clips[name], table[name]
        assert f"{name}: read {root}" in out.stdout
    assert "4DME_Labelling_Micro_release v1.xlsx" in out.stdout and "(sheet label)" in out.stdout
    assert "casme3c: note: CAS(ME)³ part C annotates no apex" in out.stdout
    assert "4dme/S01/S01_002: AU(s) AU6 marked '(k)'" in out.stdout  # a quirk, listed with its reason
    assert "casme3a/spNO.2/c_1: recording" in out.stdout and "not found" in out.stdout


def _one_line(out, *needles):
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("melib: error: "), out.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize("args, needles", [
    (["study", "--profile", "smoke", "--plan-changes", '{"epochs": "ten"}', "--notebooks", "10_dlhn"],
     ["plan['epochs'] must be an integer >= 1", "'ten'"]),
    (["study", "--profile", "smoke", "--plan", "--plan-changes", '{"max_folds": 1.5}', "--notebooks", "10_dlhn"],
     ["plan['max_folds']", "1.5"]),
    (["study", "--profile", "smoke", "--device", "cuda", "--notebooks", "00_datasets"],
     ["device 'cuda' is not on this machine", "cpu, or auto"]),
])
def test_a_bad_study_parameter_is_one_line_before_any_work(tmp_path, args, needles):
    """Issue 20, case 6: a plan count that is not an integer, and a device this machine lacks, stopped the study
    half-way with a raw ValueError or torch's AssertionError; now one line, and the smoke set is not even made."""
    import os
    env = {**os.environ, "MELIB_HOME": str(tmp_path), "MELIB_CONFIG": str(tmp_path / "absent.yaml"),
           "CUDA_VISIBLE_DEVICES": ""}  # no CUDA here, whatever the machine has
    out = subprocess.run([sys.executable, "-m", "melib.cli", *args], capture_output=True, text=True, env=env)
    _one_line(out, *needles)
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_a_non_finite_synth_parameter_is_one_line(tmp_path, value):
    out = run("data", "synth", "--root", str(tmp_path / "set"), f"--subject-label-dependence={value}",
              env_home=tmp_path)
    _one_line(out, "subject_label_dependence must be a finite number")
    assert not (tmp_path / "set").exists()

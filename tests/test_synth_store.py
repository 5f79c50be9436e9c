"""The synthetic set on disk: melib refuses folders it did not write, sees damage, swaps sets atomically and
cleans up after an interrupted writer (issue #10 cases 3, 4 and 5)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from melib import synth
from melib.errors import DataError

TINY = {"subjects": 1, "clips_per_subject": 3, "width": 96, "height": 72, "frames": (4, 5)}
REPO = Path(__file__).resolve().parents[1]


def files_of(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def fresh(tmp_path_factory) -> dict[str, bytes]:
    """The bytes of a freshly generated TINY default set (seed 0)."""
    return files_of(synth.generate_default(tmp_path_factory.mktemp("fresh") / "synth", progress=False, **TINY))


def dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


# --- case 3: a folder melib did not write is never deleted ------------------------------------------

def test_generate_default_refuses_a_users_folder(tmp_path):
    thesis = tmp_path / "thesis"
    (thesis / "chapter1").mkdir(parents=True)
    (thesis / "chapter1" / "draft.tex").write_text("years of work")
    with pytest.raises(DataError, match="thesis"):
        synth.generate_default(thesis, progress=False, **TINY)
    assert (thesis / "chapter1" / "draft.tex").read_text() == "years of work"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thesis"]  # no temporary folder left behind


def test_generate_refuses_a_users_layout_folder(tmp_path):
    mine = tmp_path / "casme2" / "CASME2_RAW_selected" / "sub01" / "EP02_01f"
    mine.mkdir(parents=True)
    (mine / "img46.jpg").write_bytes(b"a real frame")
    with pytest.raises(DataError, match="casme2"):
        synth.generate(tmp_path, "casme2", progress=False, **TINY)
    assert (mine / "img46.jpg").read_bytes() == b"a real frame"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["casme2"]


def test_an_empty_folder_is_used(tmp_path):
    (tmp_path / "synth").mkdir()
    synth.generate_default(tmp_path / "synth", progress=False, **TINY)
    assert synth.verify(tmp_path / "synth") == []


def test_files_melib_did_not_write_block_a_replacement(tmp_path, fresh):
    root = synth.generate_default(tmp_path / "synth", progress=False, **TINY)
    (root / "notes.txt").write_text("mine")
    synth.generate_default(root, progress=False, **TINY)  # complete and current: nothing to do
    with pytest.raises(DataError, match="notes.txt"):
        synth.generate_default(root, progress=False, **{**TINY, "noise": 1.0})
    assert (root / "notes.txt").read_text() == "mine"
    (root / "notes.txt").unlink()
    assert files_of(root) == fresh  # the refused replacement changed nothing


@pytest.mark.parametrize("how", ["cli", "env"])
def test_cli_refuses_a_users_folder(tmp_path, how):
    user = tmp_path / "CASME2"
    user.mkdir()
    (user / "CASME2-coding-20190701.xlsx").write_bytes(b"the owners' sheet")
    env = {**os.environ, "MELIB_HOME": str(tmp_path)}
    args = ["data", "synth"]
    if how == "cli":
        args += ["--root", str(user)]
    else:
        env["MELIB_DATA_SYNTH"] = str(user)
    out = subprocess.run([sys.executable, "-m", "melib.cli", *args], capture_output=True, text=True, env=env,
                         cwd=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "CASME2" in out.stderr and "melib did not write" in out.stderr
    assert (user / "CASME2-coding-20190701.xlsx").read_bytes() == b"the owners' sheet"


# --- case 4: damage is seen, reported and repaired -----------------------------------------------

def test_a_damaged_set_is_reported_and_rebuilt(tmp_path, fresh):
    root = synth.generate_default(tmp_path / "synth", progress=False, **TINY)
    gt = synth.read_ground_truth(root / "casme2")
    clip = root / "casme2" / gt["folder"][0]
    frames = sorted(clip.iterdir())
    frames[-1].unlink()  # a frame lost
    (root / "samm" / "SAMM_Micro_FACS_Codes_v2.xlsx").write_bytes(b"edited by hand")
    problems = synth.verify(root)
    assert any(frames[-1].name in p and "missing" in p for p in problems)
    assert any("SAMM_Micro_FACS_Codes_v2.xlsx" in p for p in problems)
    with pytest.warns(UserWarning, match=frames[-1].name):
        synth.generate_default(root, progress=False, **TINY)
    assert files_of(root) == fresh
    assert not [p for p in tmp_path.iterdir() if p.name != "synth"]


def test_a_lost_layout_record_is_damage_not_a_stranger(tmp_path, fresh):
    root = synth.generate_default(tmp_path / "synth", progress=False, **TINY)
    (root / "casme2" / synth.PARAMS_FILE).unlink()
    assert any(p.startswith(f"casme2/{synth.PARAMS_FILE}") for p in synth.verify(root))
    with pytest.warns(UserWarning, match="damaged"):
        synth.generate_default(root, progress=False, **TINY)
    assert files_of(root) == fresh


def test_an_extra_frame_in_a_clip_is_damage(tmp_path, fresh):
    root = synth.generate_default(tmp_path / "synth", progress=False, **TINY)
    clip = root / "smic" / synth.read_ground_truth(root / "smic")["folder"][0]
    (clip / "image999999.bmp").write_bytes(b"x")
    assert any("image999999.bmp" in p for p in synth.verify(root))
    with pytest.raises(DataError, match="image999999.bmp"):  # not melib's: refused, not deleted
        synth.generate_default(root, progress=False, **TINY)
    assert (clip / "image999999.bmp").exists()


@pytest.mark.parametrize("kill_at", [1, 4, 12])
def test_interrupted_replacement_never_passes_for_a_complete_set(tmp_path, monkeypatch, fresh, kill_at):
    """A kill while the old set is being replaced (simulated: the k-th file deletion raises) must leave a
    set that the next call either finds complete or rebuilds."""
    root = synth.generate_default(tmp_path / "synth", progress=False, **TINY)
    calls = []
    real_unlink = os.unlink

    def unlink(path, *a, **k):
        calls.append(path)
        if len(calls) == kill_at:
            raise KeyboardInterrupt
        return real_unlink(path, *a, **k)

    monkeypatch.setattr(os, "unlink", unlink)
    try:
        synth.generate_default(root, progress=False, **{**TINY, "noise": 1.0})
    except KeyboardInterrupt:
        pass
    monkeypatch.undo()
    synth.generate_default(root, progress=False, **TINY)
    assert files_of(root) == fresh
    assert not [p for p in tmp_path.iterdir() if p.name != "synth"]


def test_a_legacy_set_is_recognised(tmp_path, fresh):
    """A set written before melib kept a file manifest is still melib's: checked from its ground truth."""
    root = synth.generate_default(tmp_path / "synth", progress=False, **TINY)
    for layout in synth.DEFAULT_LAYOUTS:
        (root / layout / synth.MANIFEST_FILE).unlink()
    assert synth.verify(root) == []
    synth.generate_default(root, progress=False, **{**TINY, "noise": 1.0})  # replaced, not refused
    synth.generate_default(root, progress=False, **TINY)
    assert files_of(root) == fresh


# --- case 5: what an interrupted writer leaves behind ----------------------------------------------

def test_a_failed_generation_leaves_nothing(tmp_path, monkeypatch, fresh):
    root = synth.generate_default(tmp_path / "synth", progress=False, **TINY)
    from melib.synth import build

    real = build._render_and_write
    calls = []

    def fail_later(*a, **k):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(build, "_render_and_write", fail_later)
    with pytest.raises(KeyboardInterrupt):
        synth.generate_default(root, progress=False, n_jobs=1, **{**TINY, "noise": 1.0})
    assert files_of(root) == fresh  # the old set untouched
    assert not [p for p in tmp_path.iterdir() if p.name != "synth"]


def test_stale_temporary_folders_are_cleaned_and_reported(tmp_path, fresh):
    root = tmp_path / "synth"
    pid = dead_pid()
    stale = tmp_path / f".synth.tmp-{pid}"
    (stale / "casme2" / "CASME2_RAW_selected" / "sub01").mkdir(parents=True)
    (stale / "casme2" / "CASME2_RAW_selected" / "sub01" / "img1.jpg").write_bytes(b"half")
    alive = tmp_path / ".synth.tmp-1"  # pid 1 is alive: another writer's, left alone
    alive.mkdir()
    with pytest.warns(UserWarning, match=stale.name):
        synth.generate_default(root, progress=False, **TINY)
    assert not stale.exists() and alive.exists()
    assert files_of(root) == fresh


def test_kill_9_mid_generation(tmp_path, fresh):
    """A real kill -9 while a set is written: the old set stays whole, and the next call cleans up."""
    root = synth.generate_default(tmp_path / "synth", progress=False, **TINY)
    code = (f"from melib import synth; synth.generate_default({str(root)!r}, progress=False, n_jobs=1, "
            f"subjects=4, clips_per_subject=6, width=160, height=120, frames=(20, 30))")
    p = subprocess.Popen([sys.executable, "-c", code], cwd=REPO)
    tmp = tmp_path / f".synth.tmp-{p.pid}"
    deadline = time.time() + 120
    while not any(tmp.rglob("*.jpg")) and time.time() < deadline and p.poll() is None:
        time.sleep(0.05)
    assert p.poll() is None, "the writer finished before it could be killed"
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    assert tmp.exists() and files_of(root) == fresh
    with pytest.warns(UserWarning, match=tmp.name):
        synth.generate_default(root, progress=False, **TINY)
    assert not tmp.exists() and files_of(root) == fresh
    assert json.loads((root / synth.PARAMS_FILE).read_text()) == synth.default_params(**TINY)


# --- issue 20 item 1: deletion only of what melib wrote (symlinks, manifests, leftovers) ---------------

def test_a_symlinked_root_is_replaced_behind_its_link(tmp_path, fresh):
    """``data/synth -> /bigdisk/synth``: a rebuild lands on the other disk and the link stays a link."""
    big = synth.generate_default(tmp_path / "bigdisk" / "synth", progress=False, **{**TINY, "noise": 1.0})
    link = tmp_path / "home" / "data" / "synth"
    link.parent.mkdir(parents=True)
    link.symlink_to(big)
    synth.generate_default(link, progress=False, **TINY)  # a replacement (other parameters)
    assert link.is_symlink() and link.resolve() == big and files_of(big) == fresh
    next(big.rglob("*.jpg")).unlink()  # damage, seen and repaired through the link
    with pytest.warns(UserWarning, match="damaged"):
        assert synth.generate_default(link, progress=False, **TINY) == link
    assert link.is_symlink() and link.resolve() == big and files_of(big) == fresh
    assert os.listdir(link.parent) == ["synth"] and os.listdir(big.parent) == ["synth"]


def test_cli_rebuilds_a_symlinked_default_root_in_place(tmp_path, monkeypatch, capsys, fresh):
    """The issue's case: ``ln -s /bigdisk/synth $MELIB_HOME/data/synth``, a frame lost, ``melib data synth``."""
    from melib import cli

    big = synth.generate_default(tmp_path / "bigdisk" / "synth", progress=False, **TINY)
    stale = big.parent / f".synth.old-{dead_pid()}"  # a replacement killed on the other disk
    stale.mkdir()
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "keep.txt").write_text("not melib's")
    os.symlink(tmp_path / "other", stale / "casme2")
    home = tmp_path / "home"
    (home / "data").mkdir(parents=True)
    (home / "data" / "synth").symlink_to(big)
    gone = next(big.rglob("*.jpg"))
    gone.unlink()
    monkeypatch.setenv("MELIB_HOME", str(home))
    monkeypatch.delenv("MELIB_DATA_SYNTH", raising=False)
    real = synth.generate_default
    monkeypatch.setattr(synth, "generate_default", lambda *a, **k: real(*a, **{**k, **TINY, "progress": False}))
    with pytest.warns(UserWarning, match=gone.name):
        assert cli.main(["data", "synth", "--n-jobs", "1"]) == 0
    assert "error" not in capsys.readouterr().err
    assert (home / "data" / "synth").is_symlink() and os.listdir(home / "data") == ["synth"]
    assert files_of(big) == fresh
    assert (tmp_path / "other" / "keep.txt").read_text() == "not melib's"


def test_a_symlinked_subject_folder_is_never_deleted_through(tmp_path, fresh):
    root = synth.generate_default(tmp_path / "synth", progress=False, **TINY)
    sub = root / "casme2" / "CASME2_RAW_selected" / "sub01"
    moved = tmp_path / "bigdisk" / "sub01"
    moved.parent.mkdir()
    sub.rename(moved)
    sub.symlink_to(moved)
    frames = files_of(moved)
    assert frames
    problems = synth.verify(root)
    assert any("sub01" in p and "link" in p for p in problems) and not any("missing" in p for p in problems)
    for params in (TINY, {**TINY, "noise": 1.0}):  # a repair, a replacement: both refused, nothing deleted
        with pytest.raises(DataError, match="sub01"):
            synth.generate_default(root, progress=False, **params)
        assert files_of(moved) == frames and sub.is_symlink()
    assert sorted(os.listdir(tmp_path)) == ["bigdisk", "synth"]


def test_a_stale_old_set_is_cleaned_without_following_its_links(tmp_path, fresh):
    """The old set of a killed replacement holding a symlinked subject folder: melib's files go, the link and
    what it points at stay (reported)."""
    old = synth.generate_default(tmp_path / "old", progress=False, **TINY)
    sub = old / "samm" / "SAMM" / "006"
    assert sub.is_dir()
    moved = tmp_path / "bigdisk" / "006"
    moved.parent.mkdir()
    sub.rename(moved)
    sub.symlink_to(moved)
    frames = files_of(moved)
    stale = tmp_path / f".synth.old-{dead_pid()}"
    old.rename(stale)
    with pytest.warns(UserWarning, match=stale.name):
        synth.generate_default(tmp_path / "synth", progress=False, **TINY)
    assert files_of(moved) == frames
    assert (stale / "samm" / "SAMM" / "006").is_symlink()
    assert files_of(tmp_path / "synth") == fresh


@pytest.mark.parametrize("entry", ["../../thesis.tex", "ABS", "CASME2_RAW_selected/../../../thesis.tex"])
@pytest.mark.parametrize("replace", [False, True])
def test_a_manifest_naming_a_file_outside_the_set_is_refused(tmp_path, entry, replace):
    data = tmp_path / "data"
    thesis = data / "thesis.tex"
    thesis.parent.mkdir()
    thesis.write_text("years of work")
    root = synth.generate_default(data / "synth", progress=False, **TINY)
    entry = str(thesis) if entry == "ABS" else entry
    manifest = root / "casme2" / synth.MANIFEST_FILE
    listed = json.loads(manifest.read_text())
    listed["files"][entry] = thesis.stat().st_size
    manifest.write_text(json.dumps(listed))
    with pytest.raises(DataError, match=synth.MANIFEST_FILE) as info:
        synth.generate_default(root, progress=False, **({**TINY, "noise": 1.0} if replace else TINY))
    assert entry in str(info.value)
    assert thesis.read_text() == "years of work"
    assert sorted(os.listdir(data)) == ["synth", "thesis.tex"]


def test_symlinks_named_like_melibs_temporary_folders_are_left(tmp_path, fresh):
    """``.synth.old-<pid>`` / ``.synth.tmp-<pid>`` links (dangling, or to a set) are not melib's: reported, kept,
    and what they point at untouched."""
    elsewhere = synth.generate_default(tmp_path / "elsewhere", progress=False, **TINY)
    before = files_of(elsewhere)
    links = [tmp_path / f".synth.old-{dead_pid()}", tmp_path / f".synth.tmp-{dead_pid()}",
             tmp_path / f".synth.old-{dead_pid()}"]
    links[0].symlink_to(elsewhere)
    links[1].symlink_to(elsewhere)
    links[2].symlink_to(tmp_path / "nowhere")  # dangling: what an older melib left behind a linked root
    with pytest.warns(UserWarning, match="link") as seen:
        synth.generate_default(tmp_path / "synth", progress=False, **TINY)
        synth.generate_default(tmp_path / "synth", progress=False, **{**TINY, "noise": 1.0})
    assert all(any(p.name in str(w.message) for w in seen) for p in links)
    assert all(p.is_symlink() for p in links) and files_of(elsewhere) == before
    mine = tmp_path / f".synth.old-{os.getpid()}"  # the very name this process would rename the old set to
    mine.symlink_to(elsewhere)
    with pytest.warns(UserWarning, match=mine.name), pytest.raises(DataError, match=mine.name):
        synth.generate_default(tmp_path / "synth", progress=False, **TINY)
    assert mine.is_symlink() and files_of(elsewhere) == before
    assert synth.verify(tmp_path / "synth") == []
    assert json.loads((tmp_path / "synth" / synth.PARAMS_FILE).read_text())["layouts"]["casme2"]["noise"] == 1.0

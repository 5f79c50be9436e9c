"""The on-disk cache: hits, misses on version/parameter change, atomic writes, corrupt entries, map_clips."""
from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from melib.errors import DataError
from melib.preprocess import cache as cache_mod
from melib.preprocess.cache import cache_clear, cache_info, cached, fingerprint
from melib.preprocess.clips import map_clips


@pytest.fixture(autouse=True)
def _cache_root(tmp_path, monkeypatch):
    monkeypatch.setenv("MELIB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _make(version=1, name="t.step"):
    calls = []

    @cached(version=version, name=name)
    def step(clip_id, scale=2.0):
        calls.append((clip_id, scale))
        return {"x": np.arange(5) * scale, "id": clip_id}

    return step, calls


def test_second_pass_is_a_hit():
    step, calls = _make()
    first = step("clip-a")
    second = step("clip-a")
    assert len(calls) == 1
    np.testing.assert_array_equal(first["x"], second["x"])
    # explicit default == implicit default: same entry
    step("clip-a", scale=2.0)
    assert len(calls) == 1
    assert cache_info() == {"t.step": {"entries": 1, "bytes": step.cache_path("clip-a").stat().st_size}}


def test_parameter_or_clip_change_recomputes():
    step, calls = _make()
    step("clip-a")
    step("clip-a", scale=3.0)
    step("clip-b")
    assert len(calls) == 3
    assert cache_info()["t.step"]["entries"] == 3


def test_version_bump_recomputes():
    step1, calls1 = _make(version=1)
    step1("clip-a")
    step2, calls2 = _make(version=2)
    out = step2("clip-a")
    assert len(calls2) == 1 and out["id"] == "clip-a"
    assert step1.cache_path("clip-a") != step2.cache_path("clip-a")


def test_interrupted_write_leaves_no_entry(monkeypatch):
    step, calls = _make()
    path = step.cache_path("clip-a")

    class Boom(Exception):
        pass

    real_replace = cache_mod.os.replace

    def crash(*a, **k):  # the data is on disk under the temporary name; the rename never happens
        raise Boom

    monkeypatch.setattr(cache_mod.os, "replace", crash)
    with pytest.raises(Boom):
        step("clip-a")
    assert not path.exists()
    assert [p.name for p in path.parent.iterdir()] == [".melib-function"]  # the temporary file was removed too
    monkeypatch.setattr(cache_mod.os, "replace", real_replace)
    step("clip-a")
    assert path.exists() and len(calls) == 2


def test_exception_in_encoding_leaves_no_entry(monkeypatch):
    step, _ = _make()

    def bad_encode(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(cache_mod, "_encode", bad_encode)
    with pytest.raises(KeyboardInterrupt):
        step("clip-a")
    assert not step.cache_path("clip-a").exists()


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty"])
def test_corrupt_entry_is_recomputed(damage):
    step, calls = _make()
    step("clip-a")
    path = step.cache_path("clip-a")
    blob = bytearray(path.read_bytes())
    if damage == "truncate":
        blob = blob[: len(blob) // 2]
    elif damage == "flip":
        blob[-3] ^= 0xFF
    else:
        blob = bytearray()
    path.write_bytes(bytes(blob))
    out = step("clip-a")
    assert len(calls) == 2
    np.testing.assert_array_equal(out["x"], np.arange(5) * 2.0)
    assert step("clip-a")["id"] == "clip-a" and len(calls) == 2  # the rewritten entry is good


def test_entry_file_is_header_plus_data():
    """Header (length, CRC), magic line, the JSON structure's length and text, then the arrays' bytes."""
    import json
    import struct
    import zlib

    step, _ = _make()
    step("clip-a")
    blob = step.cache_path("clip-a").read_bytes()
    length, crc = struct.unpack("<QI", blob[:12])
    assert length == len(blob) - 12 and crc == zlib.crc32(blob[12:])
    magic = b"melib-cache-entry 1\n"
    assert blob[12:12 + len(magic)] == magic
    start = 12 + len(magic) + 8
    n, = struct.unpack("<Q", blob[start - 8:start])
    tree = json.loads(blob[start:start + n])
    assert tree == {"dict": [["x", {"array": ["<f8", [5], 0]}], ["id", "clip-a"]]}
    np.testing.assert_array_equal(np.frombuffer(blob[start + n:], "<f8"), np.arange(5) * 2.0)


def test_cache_clear_one_function_or_all():
    a, _ = _make(name="t.a")
    b, _ = _make(name="t.b")
    a("x"), a("y"), b("x")
    assert cache_clear(a).entries == 2
    assert set(cache_info()) == {"t.b"} and not a.cache_path("x").parent.exists()
    assert cache_clear().entries == 1
    assert cache_info() == {} and [p.name for p in a.cache_path("x").parent.parent.iterdir()] == ["CACHEDIR.TAG"]
    with pytest.raises(TypeError):
        cache_clear(len)


def test_fingerprint_distinguishes_arrays_and_rows(tmp_path):
    a = np.zeros((2, 3), np.uint8)
    assert fingerprint(a) == fingerprint(a.copy())
    assert fingerprint(a) != fingerprint(a.astype(np.float32))
    b = a.copy()
    b[1, 2] = 1
    assert fingerprint(a) != fingerprint(b)
    f = tmp_path / "img1.png"
    f.write_bytes(b"12")
    row = pd.Series({"dataset": "synth", "subject": "synth/s1", "clip": "c1", "apex": 3, "frames": [str(f)]})
    key1 = fingerprint(row)
    f.write_bytes(b"123")  # the frame file changed on disk: a different clip
    assert fingerprint(row) != key1
    with pytest.raises(TypeError):
        fingerprint(object())


def test_map_clips_collects_exclusions():
    samples = pd.DataFrame({"dataset": ["synth"] * 3, "subject": ["synth/s1"] * 3, "clip": ["a", "bad", "c"]})

    @cached(version=1, name="t.rowstep")
    def rowstep(row, k=1):
        if row["clip"] == "bad":
            raise DataError("/x/bad", "a face", "none")
        return np.full(2, k)

    results, exclusions = map_clips(rowstep, samples, desc="test", progress=False, k=4)
    assert list(results) == [0, 2]
    np.testing.assert_array_equal(results[2], [4, 4])
    assert len(exclusions) == 1
    ex = exclusions[0]
    assert (ex["dataset"], ex["subject"], ex["clip"], ex["path"]) == ("synth", "synth/s1", "bad", "/x/bad")
    assert "a face" in ex["reason"]
    with pytest.raises(ZeroDivisionError):
        map_clips(lambda row: 1 / 0, samples, progress=False)


def test_data_error_is_cached_and_raised_again():
    from melib.preprocess.face import FaceNotFound

    calls = []

    @cached(version=1, name="t.noface")
    def step(clip_id):
        calls.append(clip_id)
        raise FaceNotFound(f"/d/{clip_id}/img1.jpg", "a face", "none")

    for _ in range(2):
        with pytest.raises(FaceNotFound) as info:
            step("c1")
        assert str(info.value.path) == "/d/c1/img1.jpg" and info.value.found == "none"
    assert calls == ["c1"]


# ---- #10: the cache deletes only what melib wrote --------------------------------------------------------

def _tree(root):
    """A user's files: what must survive every cache command."""
    files = {root / "data" / "casme2" / "img1.jpg": b"frame", root / "runs" / "m" / "fold000.json": b"{}",
             root / "melib.yaml": b"data: {}\n", root / "notebooks" / "a.ipynb": b"{}"}
    for f, blob in files.items():
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(blob)
    return files


def _intact(files):
    return all(f.is_file() and f.read_bytes() == blob for f, blob in files.items())


@pytest.mark.parametrize("name", ["../..", "..", "../../data", "/ABS", "", ".", "t.a/../..", "t.a/x"])
def test_clear_refuses_a_name_that_is_not_a_cached_function(tmp_path, monkeypatch, name):
    home = tmp_path / "home"
    files = _tree(home)
    outside = tmp_path / "elsewhere"
    files.update(_tree(outside))
    monkeypatch.setenv("MELIB_CACHE", str(home / ".cache" / "melib"))
    a, _ = _make(name="t.a")
    a("x")
    from melib.errors import ConfigError
    with pytest.raises(ConfigError, match="cached function"):
        cache_clear(name.replace("/ABS", str(outside)))
    assert _intact(files) and a.cache_path("x").exists()


def test_clear_of_an_unknown_name_is_an_error_naming_the_known_ones():
    from melib.errors import ConfigError
    a, _ = _make(name="t.a")
    a("x")
    with pytest.raises(ConfigError, match="t.a"):
        cache_clear("t.nothing")
    assert cache_clear("t.a").entries == 1


def test_a_cache_pointed_at_an_ordinary_folder_touches_only_melibs_entries(_cache_root):
    files = _tree(_cache_root)
    foreign_pkl = _cache_root / "t.step" / ("0" * 64 + ".pkl")  # a look-alike name without melib's header
    foreign_pkl.parent.mkdir(parents=True)
    foreign_pkl.write_bytes(pickle.dumps({"mine": 1}))
    files[foreign_pkl] = foreign_pkl.read_bytes()
    step, _ = _make()
    step("clip-a"), step("clip-b")
    info = cache_info()
    assert set(info) == {"t.step"} and info["t.step"]["entries"] == 2  # notebooks/, data/, runs/ are not functions
    report = cache_mod.cache_report()
    assert "notebooks" in report and "not melib's" in report
    out = cache_clear()
    assert out.entries == 2
    assert foreign_pkl in out.left and (_cache_root / "notebooks") in out.left
    assert _intact(files)
    assert not step.cache_path("clip-a").exists()


def _temp(folder, name, age_s):
    import os
    import time
    f = folder / name
    f.write_bytes(b"\0" * 7)  # a torn write: no valid header
    t = time.time() - age_s
    os.utime(f, (t, t))
    return f


def test_stale_temporary_files_are_shown_apart_and_cleared_but_not_counted(_cache_root):
    import os
    import socket
    step, _ = _make()
    step("clip-a")
    d = step.cache_path("clip-a").parent
    host = cache_mod._host()
    dead = _temp(d, f".tmp-{host}.{2**22 + 12345}.abcd1234.pkl", 5)  # writer gone (pid above pid_max)
    legacy_old = _temp(d, ".tmp-q1w2e3r4.pkl", 10 * 24 * 3600)  # the old naming, days old
    live = _temp(d, f".tmp-{host}.{os.getpid()}.zz9.pkl", 5)  # a writer at work right now
    assert cache_info()["t.step"] == {"entries": 1, "bytes": step.cache_path("clip-a").stat().st_size}
    report = cache_mod.cache_report()
    assert "2 stale temporary files" in report
    out = cache_clear()
    assert out.entries == 1 and out.temp_files == 2
    assert not dead.exists() and not legacy_old.exists()
    assert live.exists() and live in out.left  # never pulled from under a running writer
    assert socket  # noqa


# ---- #10 case 12: a frame's identity follows its content ----------------------------------------------

@pytest.mark.parametrize("how", ["in_place", "renamed_over"])
def test_a_frame_replaced_with_its_size_and_mtime_kept_changes_the_key(tmp_path, how):
    import os
    f = tmp_path / "img1.jpg"
    f.write_bytes(b"AAAA")
    st = os.stat(f)
    row = pd.Series({"dataset": "synth", "subject": "synth/s1", "clip": "c1", "apex": 3, "frames": [str(f)]})
    key1 = fingerprint(row)
    assert fingerprint(row) == key1
    if how == "in_place":  # cp -p onto the file
        f.write_bytes(b"BBBB")
        os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    else:  # rsync -a / tar x: a new file renamed into place, mtime restored
        g = tmp_path / ".img1.jpg.part"
        g.write_bytes(b"BBBB")
        os.utime(g, ns=(st.st_atime_ns, st.st_mtime_ns))
        os.replace(g, f)
    assert (os.stat(f).st_size, os.stat(f).st_mtime_ns) == (st.st_size, st.st_mtime_ns)
    assert fingerprint(row) != key1


# ---- #11 item 6: keys follow the code ----------------------------------------------------------------

def _package(tmp_path, monkeypatch, helper="x + 1"):
    import importlib
    import sys
    name = f"mlcode_{abs(hash(str(tmp_path))) % 10**8}"
    pkg = tmp_path / "src" / name
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "helpers.py").write_text(f"def helper(x):\n    return {helper}\n")
    (pkg / "other.py").write_text("def unrelated(x):\n    return x * 2\n")
    (pkg / "steps.py").write_text(
        "from melib.preprocess.cache import cached\n"
        "from . import helpers, other\n\n"
        "CALLS = []\n\n"
        "@cached(version=1, name='code.step')\n"
        "def step(x):\n"
        "    CALLS.append(x)\n"
        "    return helpers.helper(x)\n")
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    importlib.invalidate_caches()
    steps = importlib.import_module(f"{name}.steps")
    return pkg, steps


def _reload(pkg, module):
    import importlib
    import sys
    importlib.reload(sys.modules[f"{pkg.name}.{module}"])
    return importlib.reload(sys.modules[f"{pkg.name}.steps"])


def test_editing_a_callee_recomputes(tmp_path, monkeypatch):
    pkg, steps = _package(tmp_path, monkeypatch)
    assert steps.step(1) == 2 and steps.step(1) == 2 and steps.CALLS == [1]
    (pkg / "helpers.py").write_text("def helper(x):\n    return x + 100\n")
    steps = _reload(pkg, "helpers")
    assert steps.step(1) == 101 and steps.CALLS == [1]  # reload made a fresh CALLS: the step ran once more


def test_an_unrelated_edit_keeps_the_entry(tmp_path, monkeypatch):
    pkg, steps = _package(tmp_path, monkeypatch)
    path = steps.step.cache_path(1)
    steps.step(1)
    (pkg / "other.py").write_text("def unrelated(x):\n    return x * 2000\n")
    steps = _reload(pkg, "other")
    assert steps.step.cache_path(1) == path
    assert steps.step(1) == 2 and steps.CALLS == []  # a hit


def test_editing_the_step_itself_recomputes(tmp_path, monkeypatch):
    pkg, steps = _package(tmp_path, monkeypatch)
    path = steps.step.cache_path(1)
    src = (pkg / "steps.py").read_text()
    (pkg / "steps.py").write_text(src.replace("return helpers.helper(x)", "return helpers.helper(x) * 1"))
    steps = _reload(pkg, "helpers")
    assert steps.step.cache_path(1) != path


def test_ignored_arguments_do_not_key_the_entry():
    calls = []

    @cached(version=1, name="t.dev", ignore=("device",))
    def step(x, device="cpu"):
        calls.append(device)
        return x * 2

    assert step(3) == 6 and step(3, device="cuda") == 6 and calls == ["cpu"]
    assert step.cache_path(3, device="cuda") == step.cache_path(3)
    with pytest.raises(TypeError, match="nope"):
        cached(version=1, ignore=("nope",))(lambda x: x)


_WRITER = """
import os, sys, time
import numpy as np
from melib.preprocess import cache
@cache.cached(version=1, name="t.proc")
def step(i):
    return np.full(200_000, i)
if sys.argv[1] == "hang":  # killed between writing the temporary file and renaming it
    cache.os.replace = lambda a, b: (print("written", flush=True), time.sleep(60))
    step(0)
else:
    for _ in range(5):
        for i in range(6):
            assert step(i)[0] == i
"""


def test_kill_9_mid_write_leaves_a_stale_temp_that_clear_removes(_cache_root):
    import os
    import signal
    import subprocess
    import sys
    env = {**os.environ, "MELIB_CACHE": str(_cache_root)}
    proc = subprocess.Popen([sys.executable, "-c", _WRITER, "hang"], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "written"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    folder = _cache_root / "t.proc"
    temps = [p for p in folder.iterdir() if p.name.startswith(".tmp-")]
    assert len(temps) == 1 and str(proc.pid) in temps[0].name
    assert cache_info() == {"t.proc": {"entries": 0, "bytes": 0}}  # no entry, torn or whole
    assert "1 stale temporary files" in cache_mod.cache_report()
    out = cache_clear()
    assert (out.entries, out.temp_files, out.left) == (0, 1, []) and not folder.exists()


def test_two_writers_leave_whole_entries(_cache_root):
    import os
    import subprocess
    import sys
    env = {**os.environ, "MELIB_CACHE": str(_cache_root)}
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, "write"], env=env) for _ in range(2)]
    assert [p.wait() for p in procs] == [0, 0]
    folder = _cache_root / "t.proc"
    assert cache_info()["t.proc"]["entries"] == 6
    assert sorted(p.name for p in folder.iterdir() if not cache_mod._ENTRY.match(p.name)) == [".melib-function"]
    entries = list(folder.glob("*.entry"))
    assert len(entries) == 6
    for f in entries:
        assert cache_mod._read(f)[0] in range(6)


# ---- #20 item 2: an entry cannot run code --------------------------------------------------------------

class _Evil:
    """Unpickling this writes a marker file: what a planted entry would do with os.system."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import os
        return os.system, (f"touch {self.marker}",)


def _framed(payload: bytes) -> bytes:
    import struct
    import zlib
    return struct.pack("<QI", len(payload), zlib.crc32(payload)) + payload


@pytest.mark.parametrize("where", ["entry", "old_entry", "object_array"])
def test_a_planted_entry_never_runs_code(tmp_path, where):
    """melib's header and a valid CRC around a pickle (or around this format naming an object array whose bytes
    are a pickle): loading it must not unpickle; the entry is recomputed and replaced."""
    import struct
    marker = tmp_path / "pwned"
    step, calls = _make()
    path = step.cache_path("clip-a")
    path.parent.mkdir(parents=True)
    evil = pickle.dumps(_Evil(marker))
    if where == "object_array":
        tree = b'{"array": ["|O", [1], 0]}'
        payload = b"melib-cache-entry 1\n" + struct.pack("<Q", len(tree)) + tree + evil
    else:
        payload = evil
    planted = path if where != "old_entry" else path.with_suffix(".pkl")
    planted.write_bytes(_framed(payload))
    assert cache_info()["t.step"]["entries"] == 1  # melib's by name and header
    out = step("clip-a")
    assert not marker.exists()
    assert len(calls) == 1 and out["id"] == "clip-a"
    assert not path.with_suffix(".pkl").exists()  # an old entry is replaced, never read
    assert cache_mod._read(path)["id"] == "clip-a"
    assert not marker.exists()


def test_values_round_trip_with_their_types():
    value = {"a": np.arange(6, dtype=np.int16).reshape(2, 3), "f": np.float32(1.5), "b": np.bool_(True),
             "i": 7, "x": float("nan"), "s": "text", "u": np.str_("uni"), "n": None, "t": (1, [2.0, "3"]),
             (1, "k"): b"raw", "e": np.array([], np.float64), "z": np.array(3 + 4j), "ok": True,
             "d": np.array(["2020-01-01"], dtype="datetime64[D]"), "f2": np.asfortranarray(np.eye(3)[:, :2]),
             "last": b""}

    calls = []

    @cached(version=1, name="t.types")
    def step(k):
        calls.append(k)
        return value

    step(0)
    got = step(0)
    assert calls == [0]  # a hit
    assert list(got) == list(value)
    for k, v in value.items():
        assert type(got[k]) is type(v), k
        if isinstance(v, np.ndarray):
            assert got[k].dtype == v.dtype and got[k].shape == v.shape
            np.testing.assert_array_equal(got[k], v)
        elif k == "x":
            assert got[k] != got[k]
        else:
            assert got[k] == v
    assert type(got["t"][1]) is list and type(got["f"]) is np.float32


@pytest.mark.parametrize("bad", [np.array([None, 1], dtype=object), {1, 2}, object()])
def test_a_value_the_cache_cannot_hold_as_data_is_refused(bad):
    @cached(version=1, name="t.bad")
    def step(k):
        return {"v": bad}

    with pytest.raises(TypeError, match="cache stores"):
        step(0)
    assert not step.cache_path(0).exists()


# ---- #20 item 6: a cache that cannot be written is not fatal ----------------------------------------------

class _FullDisk:
    """A file object whose writes fail as on a full disk."""

    def __init__(self, fh):
        self.fh = fh

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.fh.close()

    def write(self, data):
        import errno
        raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("how", ["ENOSPC", "EROFS", "EACCES", "EROFS_mkdir"])
def test_a_cache_that_cannot_be_written_is_skipped_with_one_warning(monkeypatch, _cache_root, how):
    """Tests run as root (chmod stops nothing), so the failing write is simulated where it would fail."""
    import errno
    import os
    monkeypatch.setattr(cache_mod, "_UNWRITABLE", set())
    if how == "ENOSPC":
        real = os.fdopen
        monkeypatch.setattr(cache_mod.os, "fdopen", lambda fd, *a, **k: _FullDisk(real(fd, *a, **k)))
    elif how == "EROFS_mkdir":
        def mkdir(self, *a, **k):
            raise OSError(errno.EROFS, "Read-only file system", str(self))
        monkeypatch.setattr(cache_mod.Path, "mkdir", mkdir)
    else:
        def mkstemp(*a, **k):
            raise OSError(getattr(errno, how), os.strerror(getattr(errno, how)), str(k.get("dir")))
        monkeypatch.setattr(cache_mod.tempfile, "mkstemp", mkstemp)
    samples = pd.DataFrame({"dataset": ["synth"] * 3, "subject": ["synth/s1"] * 3, "clip": ["a", "bb", "ccc"]})

    @cached(version=1, name="t.full")
    def rowstep(row):
        if row["clip"] == "bb":
            raise DataError("/x/bb", "a face", "none")
        return np.full(3, len(row["clip"]))

    with pytest.warns(cache_mod.CacheWarning) as seen:
        results, exclusions = map_clips(rowstep, samples, progress=False, n_jobs=1)
        again, _ = map_clips(rowstep, samples, progress=False, n_jobs=1)
    assert len(seen) == 1 and str(_cache_root) in str(seen[0].message) and "without caching" in str(seen[0].message)
    for got in (results, again):
        assert sorted(got) == [0, 2] and got[2].tolist() == [3, 3, 3]
    assert [e["clip"] for e in exclusions] == ["bb"]
    folder = _cache_root / "t.full"
    assert not folder.exists() or sorted(p.name for p in folder.iterdir()) in ([], [".melib-function"])

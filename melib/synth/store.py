"""A synthetic set on disk: what melib wrote, whether it is whole, atomic replacement, interrupted writers.

melib deletes only what it can show it wrote: in a folder whose ``synth_params.json`` is melib's, the files
its ``synth_files.json`` lists (name and size of every file of a layout folder; for a set written before that
manifest, the files its ground truth names), and its own temporary folders ``.<name>.tmp-<pid>`` (a set being
built) and ``.<name>.old-<pid>`` (a set being replaced) once their writer ``pid`` has gone. A folder holding
anything else is refused, never emptied. A set is built in a temporary sibling, the old one renamed aside, the
new one renamed in, then the old one's files deleted: an interrupt at any point leaves a whole set, or
temporary folders that the next call removes and reports (:class:`SynthWarning`).

No symbolic link is followed to delete: a manifest entry that would leave the set (``..``, an absolute path) is
refused, a file reached through a linked folder is not melib's, and a link named like a temporary folder is
reported and left. A set whose root is a link (``data/synth -> /bigdisk/synth``) is replaced where the link
points (:func:`target`), and the link is kept.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import warnings
from contextlib import contextmanager
from itertools import accumulate
from pathlib import Path, PurePosixPath

from ..errors import DataError
from .layouts import GROUND_TRUTH, ground_truth_files
from .spec import LAYOUTS

PARAMS_FILE = "synth_params.json"
MANIFEST_FILE = "synth_files.json"
_TEMP = re.compile(r"^\.(?P<name>.+)\.(?P<kind>tmp|old)-(?P<pid>\d+)$")
_ACTIVE: set[Path] = set()  # this process's temporary folders in use


class SynthWarning(UserWarning):
    """What melib found and did about a synthetic set on disk (damage, an interrupted writer's leftovers)."""


def report(message: str) -> None:
    warnings.warn(message, SynthWarning, stacklevel=3)


def read_record(folder: Path) -> dict | None:
    """The parameters melib recorded in ``folder`` (``synth_params.json``), or None when there are none."""
    try:
        rec = json.loads((Path(folder) / PARAMS_FILE).read_text())
    except (OSError, ValueError):
        return None
    return rec if isinstance(rec, dict) and "version" in rec and "seed" in rec else None


def _is_layout(rec: dict | None) -> bool:
    return rec is not None and rec.get("layout") in LAYOUTS


def _is_default(rec: dict | None) -> bool:
    return rec is not None and isinstance(rec.get("layouts"), dict)


def _files(folder: Path) -> dict[str, Path]:
    """Every file and symbolic link under ``folder`` by its path relative to it; links are not followed."""
    out = {}
    for d, dirs, names in os.walk(folder):
        for n in names + [x for x in dirs if os.path.islink(os.path.join(d, x))]:
            p = Path(d, n)
            out[p.relative_to(folder).as_posix()] = p
    return dict(sorted(out.items()))


def _links(present: dict[str, Path]) -> list[str]:
    return [rel for rel, p in present.items() if p.is_symlink()]


def _inside(rels, source: Path) -> None:
    """Raise DataError naming ``source`` unless every path of ``rels`` stays inside the folder it is relative to."""
    for rel in rels:
        p = PurePosixPath(rel)
        if not rel or p.is_absolute() or p.as_posix() != rel or ".." in p.parts or "\\" in rel or "\0" in rel:
            raise DataError(source, "paths of files inside the set (relative, without '..'); melib deletes nothing "
                                    "outside it", f"the entry {rel!r}")


def write_manifest(folder: Path) -> None:
    """List every file of a finished layout folder with its size (``synth_files.json``)."""
    files = {rel: p.stat().st_size for rel, p in _files(folder).items()}
    (folder / MANIFEST_FILE).write_text(json.dumps({"version": 1, "files": files}, indent=0, sort_keys=True))


def _written(folder: Path, layout: str) -> dict[str, int | None]:
    """{path relative to a layout folder: size (None: not recorded)} of every file melib wrote there."""
    files = None
    try:
        files = json.loads((folder / MANIFEST_FILE).read_text())["files"]
        if not all(isinstance(k, str) and isinstance(v, int) for k, v in files.items()):
            files = None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        files = None
    if files is not None:
        _inside(files, folder / MANIFEST_FILE)
        return {**files, MANIFEST_FILE: None}
    try:  # a set from before the manifest: what its ground truth names
        named = ground_truth_files(folder, layout)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        named = []
    _inside(named, folder / GROUND_TRUTH[0])
    return {**dict.fromkeys(named), PARAMS_FILE: None}


def _verify_layout(folder: Path, layout: str, prefix: str) -> list[str]:
    if not folder.is_dir():
        return [f"{prefix}: missing"]
    problems = [] if _is_layout(read_record(folder)) else [f"{prefix}{PARAMS_FILE}: missing or not melib's"]
    written, present = _written(folder, layout), _files(folder)
    links = _links(present)
    for rel, size in written.items():
        if rel not in present:
            if not any(rel.startswith(f"{link}/") for link in links):  # behind a link: the link is reported
                problems.append(f"{prefix}{rel}: missing")
        elif present[rel].is_symlink():
            problems.append(f"{prefix}{rel}: a symbolic link, not the file melib wrote")
        elif size is not None and present[rel].stat().st_size != size:
            problems.append(f"{prefix}{rel}: {present[rel].stat().st_size} bytes, {size} written")
    problems += [f"{prefix}{rel}: {'a symbolic link' if rel in links else 'not written by melib'}"
                 for rel in present if rel not in written]
    return problems


def verify(root) -> list[str]:
    """What is wrong with a synthetic set (a default set's root or one layout folder); empty when it is whole.

    Every file melib wrote must be there at the size it wrote, and no other file may sit in a layout folder
    (the loaders would read it). Files beside the layout folders of a default set are not checked.
    """
    root = Path(root)
    rec = read_record(root)
    if _is_layout(rec):
        return _verify_layout(root, rec["layout"], "")
    if not _is_default(rec):
        return [f"{root / PARAMS_FILE}: missing or not written by melib.synth"]
    problems = []
    for layout, params in rec["layouts"].items():
        problems += _verify_layout(root / layout, layout, f"{layout}/")
        if (root / layout).is_dir() and read_record(root / layout) not in (None, params):
            problems.append(f"{layout}/{PARAMS_FILE}: not the parameters of the set")
    return problems


def _layout_files(folder: Path, layout: str) -> list[str]:
    return sorted(_written(folder, layout), key=lambda r: ("/" not in r, r in (MANIFEST_FILE, PARAMS_FILE),
                                                           r == PARAMS_FILE))


def _melib_files(folder: Path) -> list[str] | None:
    """The files melib wrote in ``folder`` (a set or a layout), relative to it, the records last; None when it
    is not a set."""
    rec = read_record(folder)
    if _is_layout(rec):
        return _layout_files(folder, rec["layout"])
    layouts = [x for x in LAYOUTS if _is_layout(read_record(folder / x))]
    if _is_default(rec):  # its layout folders are melib's by name, even one whose own record is lost
        layouts = [x for x in LAYOUTS if (folder / x).is_dir()]
    elif not (layouts and all(p.name in layouts for p in folder.iterdir())):
        return None
    files = [f"{x}/{rel}" for x in layouts for rel in _layout_files(folder / x, x)]
    return files + [PARAMS_FILE] if _is_default(rec) else files


def _own(folder: Path, rel: str, real_dirs: set[Path]) -> Path | None:
    """``folder/rel`` when it is a plain file reached through plain folders (no link followed), else None.
    ``real_dirs`` remembers the folders already checked."""
    *parts, name = rel.split("/")
    for d in accumulate(parts, lambda a, b: a / b, initial=folder):
        if d not in real_dirs:
            if d.is_symlink() or not d.is_dir():
                return None
            real_dirs.add(d)
    f = d / name
    return f if not f.is_symlink() and f.is_file() else None


def check_replaceable(final: Path) -> None:
    """Raise DataError unless ``final`` is absent, an empty folder, or a set holding only files melib wrote."""
    if not final.exists():
        return
    if not final.is_dir():
        raise DataError(final, "a folder for melib's synthetic set, or nothing", "a file")
    present = _files(final)
    if not present:
        return
    ours = _melib_files(final)
    if ours is None:
        raise DataError(final, "an empty folder or a synthetic set that melib wrote (melib deletes nothing it "
                               "did not write)", f"a folder melib did not write, holding {len(present)} file(s) "
                                                 f"such as {', '.join(list(present)[:3])}")
    mine, links = set(ours), _links(present)
    foreign = [f"{rel} (a symbolic link)" if rel in links else rel for rel in present
               if rel not in mine or rel in links]
    if foreign:
        raise DataError(final, "a synthetic set holding only files melib wrote (melib deletes nothing it did not "
                               "write: move these out, then run again)",
                        f"{len(foreign)} file(s) melib did not write: {', '.join(foreign[:5])}"
                        f"{' ...' if len(foreign) > 5 else ''}")


def discard(folder: Path) -> list[str]:
    """Delete the files melib wrote in ``folder`` and the folders they leave empty; return what is left.
    No link is followed: a file reached through one is left."""
    real_dirs: set[Path] = set()
    for rel in _melib_files(folder) or []:
        if (f := _own(folder, rel, real_dirs)) is not None:
            f.unlink(missing_ok=True)
    for d, _, _ in sorted(os.walk(folder), key=lambda w: -len(w[0])):
        if not os.listdir(d):
            os.rmdir(d)
    return list(_files(folder)) if folder.exists() else []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_stale(parent: Path, names) -> None:
    """Remove (and report) the temporary folders of ``names`` in ``parent`` whose writer has gone; a symbolic
    link named like one is not melib's (melib makes none): reported and left."""
    if not parent.is_dir():
        return
    for entry in sorted(parent.iterdir()):
        m = _TEMP.match(entry.name)
        if not m or m["name"] not in names or entry in _ACTIVE:
            continue
        if entry.is_symlink():
            report(f"left {entry} -> {os.readlink(entry)}: a symbolic link named like melib's temporary folder, "
                   "but melib makes no links (remove it if it is not yours)")
            continue
        if not entry.is_dir():
            continue
        pid = int(m["pid"])
        if pid != os.getpid() and _alive(pid):
            continue
        if m["kind"] == "tmp":
            shutil.rmtree(entry)
            report(f"removed {entry}: a set an interrupted melib writer (pid {pid}) left unfinished")
            continue
        left = discard(entry)
        what = f"the old set an interrupted melib writer (pid {pid}) was replacing"
        report(f"kept {entry}, {what}: melib removed its own files; {len(left)} file(s) or link(s) melib did not "
               f"write are left, e.g. {left[0]}" if left else f"removed {entry}: {what}")


def target(path) -> Path:
    """The folder a set at ``path`` lives in: ``path`` itself, or where its symbolic link points (the set is
    replaced there and the link kept). DataError when the link leads nowhere a folder could be."""
    path = Path(path).absolute()
    if not path.is_symlink():
        return path
    real = path.resolve()
    if not real.parent.is_dir() or (real.exists() and not real.is_dir()):
        raise DataError(path, "a folder, or a symbolic link to a folder (or to a new one in an existing folder)",
                        f"a link to {real}")
    return real


def _temp(final: Path, kind: str) -> Path:
    """This process's temporary name ``kind`` (tmp, old) beside ``final``; DataError when something that is not
    melib's folder holds it."""
    path = final.parent / f".{final.name}.{kind}-{os.getpid()}"
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise DataError(path, "nothing there, or melib's temporary folder of this process",
                        "a symbolic link or file melib did not make (remove it)")
    return path


@contextmanager
def building(final: Path):
    """A new temporary sibling of ``final`` to build a set in, removed if the build fails."""
    tmp = _temp(final, "tmp")
    _temp(final, "old")  # checked before the work: install renames the old set to it
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    _ACTIVE.add(tmp)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        _ACTIVE.discard(tmp)


def install(tmp: Path, final: Path) -> None:
    """Put the set built in ``tmp`` at ``final``: the old set renamed aside, the new one renamed in, then the
    old one's files deleted (:func:`check_replaceable` has allowed it)."""
    aside = _temp(final, "old")
    if final.is_symlink():
        raise DataError(final, "the folder a symbolic link points at (melib.synth.store.target)", "the link")
    if final.exists() and not any(final.iterdir()):
        final.rmdir()
    elif final.exists():
        _ACTIVE.add(aside)
        os.rename(final, aside)
    try:
        os.rename(tmp, final)
        if aside in _ACTIVE:
            left = discard(aside)
            if left:
                report(f"kept {aside}: {len(left)} file(s) melib did not write, e.g. {left[0]}")
    finally:
        _ACTIVE.discard(aside)

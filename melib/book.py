"""The Jupyter Book: the executed notebooks laid out for reading, the landing page's results at a glance, the
colophon, and the build.

:func:`build_book` copies each papermill-executed notebook into ``<book>/executed/`` as :func:`reader_copy`
lays it out: its tables laid out again from their data (:func:`melib.display.table_html`), no code input
(``remove-input`` tags; the parameters cells, stored and injected, ``remove-cell``),
the chapter's opening box (a :class:`melib.display.Block` of kind "summary") under its title, then one folded
"Re-run this chapter" block with the exact commands and parameters. It writes
``executed/glance.md`` (the results overview's figure, for ``intro.md``) and ``executed/colophon.md`` (package
versions, machine, date, commit, for ``colophon.md``), then runs ``jupyter-book build``.
"""
from __future__ import annotations

import base64
import datetime
import json
import os
import platform
import re
import shlex
import subprocess
import sys
from pathlib import Path

import yaml

from .deviations import write_book as write_deviations
from .display import GLANCE, PARAMETERS, SUMMARY, TABLE, clean_text, table_html
from .errors import ConfigError, DataError, MelibError
from .parallel import cpu_name

RERUN = "Re-run this chapter"
OVERVIEW = "50_results_overview"
# melib study's options for the notebook parameters (dataset and frame_size: papermill only)
CLI = {"profile": "--profile", "data": "--data", "device": "--device", "seed": "--seed", "epochs": "--epochs",
       "scheme": "--scheme", "protocol": "--protocol", "plan": "--plan-changes",
       "show_real_frames": "--show-real-frames"}


class BookBuildError(MelibError, RuntimeError):
    """``jupyter-book build`` failed or the book is missing pages; the message ends with the log's tail."""


# ---- what ran ------------------------------------------------------------------------------------------

def _uncommitted() -> bool | None:
    """Whether melib's git working tree has uncommitted changes to tracked files (None: not a git checkout)."""
    try:
        proc = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=Path(__file__).parent,
                              capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return bool(proc.stdout.strip()) if proc.returncode == 0 else None


def environment() -> dict:
    """What decides a number besides the code and the data: ``melib.records.provenance()`` (melib version, git
    commit, package versions), whether the working tree had uncommitted changes, and the machine (CPU model,
    cores, OS)."""
    from . import records

    return {**records.provenance(), "uncommitted_changes": _uncommitted(),
            "machine": {"cpu": cpu_name(), "cores": os.cpu_count(),
                        "system": f"{platform.system()} {platform.release()}", "architecture": platform.machine()}}


def _commit(env: dict) -> str:
    commit = env.get("git_commit")
    if not commit:
        return "an unknown commit (not a git checkout)"
    return f"git commit `{commit}`" + (" with uncommitted changes" if env.get("uncommitted_changes") else "")


# ---- a notebook for reading ----------------------------------------------------------------------------

def _kind(output, mime: str) -> str | None:
    """The ``melib`` output kind of ``output``'s ``mime`` data (IPython keeps a ``_repr_*_``'s metadata under
    its MIME type), or None."""
    if mime not in output.get("data", {}):
        return None
    md = output.get("metadata", {})
    return md.get(mime, {}).get("melib") or md.get("melib")


def _blocks(nb, kind: str) -> list[str]:
    """Take the Markdown of every output of ``kind`` out of ``nb``."""
    found = []
    for cell in nb.cells:
        keep = []
        for out in cell.get("outputs", []):
            if _kind(out, "text/markdown") == kind:
                found.append(out["data"]["text/markdown"])
            else:
                keep.append(out)
        if cell.cell_type == "code":
            cell.outputs = keep
    return found


def _value(v) -> str:
    return json.dumps(v) if isinstance(v, (dict, list)) else str(v)


def rerun_commands(name: str, parameters: dict) -> list[str]:
    """The shell commands that re-run notebook ``name`` with ``parameters`` (papermill's), from the repository
    root: ``melib study`` when its options can say every parameter, and papermill."""
    given = {k: (clean_text(v) if isinstance(v, str) else v) for k, v in parameters.items()}
    out = []
    if set(given) <= set(CLI):
        args = []
        for k, v in given.items():
            if k == "show_real_frames":
                args += [CLI[k]] if v else []
            else:
                args += [CLI[k], _value(v)]
        out.append(shlex.join([".venv/bin/melib", "study", *args, "--notebooks", name, "--force"]))
    pm = [".venv/bin/papermill", f"notebooks/{name}.ipynb", f"notebooks/executed/{name}.ipynb"]
    for k, v in given.items():
        pm += ["-y", f"{k}: {json.dumps(v)}"] if isinstance(v, (dict, list)) else ["-p", k, _value(v)]
    out.append(shlex.join(pm))
    return out


def rerun_block(name: str, parameters: dict, resolved: str | None = None) -> str:
    """The folded "Re-run this chapter" block (MyST): the commands, the parameters papermill was given and,
    when the notebook displayed them, what they resolved to."""
    given = "\n".join(f"| `{k}` | `{_value(clean_text(v) if isinstance(v, str) else v)}` |"
                      for k, v in parameters.items())
    text = [f":::{{dropdown}} {RERUN}", "",
            f"This page is `notebooks/{name}.ipynb` executed by papermill with the parameters below (every other "
            "parameter is the notebook's default). From the repository root:", "",
            "```sh", *rerun_commands(name, parameters), "```", "",
            "| parameter given | value |", "| --- | --- |", given or "| (none) | |"]
    if resolved:
        text += ["", "What they resolved to (`melib.params.describe`):", "", resolved]
    return "\n".join(text + [":::"])


def _tables(nb) -> int:
    """Lay out again every table of ``nb`` that kept its data (``melib.display.Table.stored``) with today's
    :func:`melib.display.table_html`, so that a change of layout needs no re-run; returns how many."""
    n = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            stored = out.get("metadata", {}).get("text/html", {})
            if _kind(out, "text/html") == TABLE and isinstance(stored.get("table"), dict):
                out["data"]["text/html"] = table_html(stored["table"])
                n += 1
    return n


# In-text names of other pages, linked where a chapter's Markdown says them (:func:`link_chapters`).
CHAPTER_NAMES = {"the datasets chapter": "00_datasets.ipynb", "the preprocessing chapter": "01_preprocessing.ipynb",
                 "the baselines chapter": "20_baselines.ipynb", "the protocols chapter": "30_protocols.ipynb",
                 "the known-answer chapter": "40_known_answer.ipynb",
                 "the results overview": "50_results_overview.ipynb"}
DEVIATIONS = {"10_dlhn": "dlhn", "11_psn": "psn", "12_c3d": "c3d", "13_cropnet": "cropnet",
              "14_local_regions": "local_regions"}
_SKIP = re.compile(r"(`[^`]*`|\[[^\]]*\]\([^)]*\)|\{[a-z]+\}`[^`]*`)")  # code, links and roles stay as they are


def link_chapters(markdown: str, name: str) -> str:
    """``markdown`` of chapter ``name`` with the names of the other chapters (:data:`CHAPTER_NAMES`, "the
    known-answer chapter's question" included) and of its deviations page as links, outside code and links."""
    targets = {k: v for k, v in CHAPTER_NAMES.items() if v != f"{name}.ipynb"}
    if name in DEVIATIONS:
        targets["the deviations page"] = f"../deviations/{DEVIATIONS[name]}.md"
    if not targets:
        return markdown
    said = re.compile(r"\b(" + "|".join(re.escape(k) for k in targets) + r")(?:'s)?", re.I)

    def link(m):
        return f"[{m.group(0)}]({targets[m.group(1).lower()]})"
    return "".join(part if _SKIP.fullmatch(part) else said.sub(link, part) for part in _SKIP.split(markdown))


def reader_copy(nb, name: str):
    """``nb`` (an executed notebook) laid out for reading (see the module docstring); returns it."""
    import nbformat

    _tables(nb)
    summary = _blocks(nb, SUMMARY)
    resolved = _blocks(nb, PARAMETERS)
    params = nb.metadata.get("papermill", {}).get("parameters") or nb.metadata.get("melib", {}).get("parameters") or {}
    cells = nb.cells
    for cell in cells:
        tags = set(cell.metadata.get("tags", []))
        if cell.cell_type == "code":  # the parameters cells (stored and injected) are not shown at all
            fold = "remove-cell" if tags & {"parameters", "injected-parameters"} else "remove-input"
            cell.metadata["tags"] = sorted(tags | {fold})
    title = next((i for i, c in enumerate(cells) if c.cell_type == "markdown" and c.source.startswith("# ")), None)
    opening = [nbformat.v4.new_markdown_cell(f"::::{{admonition}} In brief\n:class: tip melib-summary\n{s}\n::::")
               for s in summary] + [nbformat.v4.new_markdown_cell(rerun_block(name, params, "\n\n".join(resolved)))]
    if title is None:
        cells = opening + cells
    else:
        head, _, rest = cells[title].source.partition("\n")
        cells[title].source = head
        tail = [nbformat.v4.new_markdown_cell(rest.strip())] if rest.strip() else []
        cells = cells[:title + 1] + opening + tail + cells[title + 1:]
    for cell in cells:
        if cell.cell_type == "markdown":
            cell.source = link_chapters(cell.source, name)
    nb.cells = cells
    pm = nb.metadata.get("papermill", {})
    for key in ("input_path", "output_path"):
        if pm.get(key):
            pm[key] = clean_text(pm[key])
    return nb


def notebook_title(path: Path) -> str | None:
    """The first Markdown heading (``# ...``) of notebook ``path``, or None."""
    import nbformat

    if not Path(path).is_file():
        return None
    for cell in nbformat.read(path, as_version=4).cells:
        if cell.cell_type == "markdown" and cell.source.startswith("# "):
            return cell.source.partition("\n")[0][2:].strip()
    return None


def refusal(error: BaseException, title: str | None = None, change: str | None = None) -> dict:
    """What the book says of a chapter whose notebook stopped with ``error`` (papermill's
    PapermillExecutionError, whose ``ename`` / ``evalue`` are the notebook's exception, or any other): the
    exception's name and message, the cell it stopped at, whether it was melib refusing the data or parameters
    (a :class:`melib.errors.MelibError`), the chapter's ``title`` and what to ``change``."""
    from . import errors

    name = getattr(error, "ename", None) or type(error).__name__
    message = getattr(error, "evalue", None)
    if message is None:
        text = str(error).strip()
        message = text.splitlines()[-1] if text else ""
    refused = isinstance(getattr(errors, name, None), type) and issubclass(getattr(errors, name), errors.MelibError)
    return {"error": name, "message": clean_text(str(message)), "refused": bool(refused),
            "cell": getattr(error, "exec_count", None), "source": clean_text(getattr(error, "source", "") or ""),
            "title": title, "change": change,
            "when": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")}


def _lacked(message: str) -> str:
    """A :class:`melib.errors.DataError` message ("...expected X, found Y") as "X; it had Y", else as it is."""
    head, sep, rest = message.partition("expected ")
    if not sep:
        return message
    wanted, _, found = rest.partition(", found ")
    return f"{wanted}" + (f"; it had {found}" if found else "")


def refusal_box(info: dict) -> str:
    """The box that says, in one line each, that the chapter ran and what stopped it, what the data lacked and
    what to change (MyST)."""
    verb = "was refused" if info.get("refused") else "failed"
    where = f" at cell [{info['cell']}]" if info.get("cell") else ""
    source = info.get("source", "").strip().splitlines()
    call = f" (`{source[0].strip()}`)" if source and len(source) == 1 and "`" not in source[0] else ""
    lines = [f"::::{{admonition}} This chapter ran and {verb}",
             ":class: warning melib-refused",
             f"Its notebook was executed on {info.get('when', 'the date of this build')} with the parameters of "
             f"\"{RERUN}\" and stopped{where}{call}; the rest of the chapter did not run.", "",
             f"- **What stopped it:** `{info['error']}`" + (", melib refusing the data or the parameters"
                                                           if info.get("refused") else ""),
             f"- **What the data lacked:** {_lacked(info['message'])}" if info.get("refused") else
             f"- **The error:** {info['message']}"]
    if info.get("change"):
        lines.append(f"- **What to change:** {info['change']}")
    return "\n".join(lines + ["::::"])


def refused_copy(nb, name: str, info: dict):
    """The partial notebook ``nb`` of a chapter that stopped (``info``: :func:`refusal`) laid out for reading:
    :func:`reader_copy` with the refusal box first, the error's output and the cells that never ran left out."""
    import nbformat

    last = max((i for i, c in enumerate(nb.cells) if c.cell_type == "code" and c.get("execution_count")),
               default=-1)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.get("outputs", []) if o.get("output_type") != "error"
                            and not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
    nb.cells = [c for i, c in enumerate(nb.cells) if i <= last
                and "papermill-error-cell-tag" not in c.metadata.get("tags", [])]  # papermill's red banners
    nb.cells.append(nbformat.v4.new_markdown_cell(refusal_box(info), metadata={"tags": ["melib-refusal"]}))
    nb = reader_copy(nb, name)
    box = next(i for i, c in enumerate(nb.cells) if "melib-refusal" in c.metadata.get("tags", []))
    cell = nb.cells.pop(box)
    first = next((i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and c.source.startswith("# ")), -1)
    nb.cells.insert(first + 1, cell)
    return nb


def placeholder_page(entry: str, executed_dir, info: dict | None = None) -> str:
    """The page of a chapter without an executed notebook: under its title (its notebook's heading), the refusal
    box when it ran and stopped (``info``), else a note that it has not been executed yet."""
    from .params import NOTEBOOKS_DIR

    name = Path(entry).name
    title = (info or {}).get("title") or notebook_title(NOTEBOOKS_DIR / f"{name}.ipynb") or name
    if info:
        return f"# {title}\n\n{refusal_box(info)}\n"
    return (f"# {title}\n\n```{{note}}\nThis chapter has not been executed yet: no `{name}.ipynb` in "
            f"`{clean_text(str(executed_dir))}`. Run it with `melib study --notebooks {name}`, then the book is "
            f"rebuilt.\n```\n")


# ---- pages the build writes ----------------------------------------------------------------------------

def glance_page(executed: Path, out: Path) -> str:
    """``glance.md``: the figure of the results overview executed in ``executed`` (written to
    ``out/results_at_a_glance.png``), or a note that the overview has not been executed."""
    import nbformat

    png = None
    src = executed / f"{OVERVIEW}.ipynb"
    if src.is_file():
        for cell in nbformat.read(src, as_version=4).cells:
            for output in cell.get("outputs", []):
                if _kind(output, "image/png") == GLANCE:
                    png = output["data"]["image/png"]
    if png is None:
        return ("```{note}\nThe results overview has not been executed in this build: no figure of the five "
                "papers' headline numbers yet.\n```\n")
    _write_atomic(out / "results_at_a_glance.png", base64.b64decode(png))
    return ("```{figure} executed/results_at_a_glance.png\n:name: results-at-a-glance\n:width: 100%\n\n"
            "Each paper's headline numbers (black diamonds: published, with the paper's protocol) beside this "
            "study's (circles: subject-disjoint folds; triangles: folds that share subjects; filled: real data; "
            "hollow: synthetic data, which checks the code and is not a reproduction; grey tick: the chance of "
            "this study's run; red cross: a run that predicts one class for every clip). Details: "
            "{doc}`executed/50_results_overview`.\n```\n")


def colophon_page(executed: Path, chapters: list[str]) -> str:
    """``colophon.md``: the versions of the packages that decide a number, the machine and the commit each
    chapter was executed with (``metadata.melib.environment``, written by ``melib study``), and the build's date."""
    import nbformat

    envs = {}
    for name in chapters:
        src = executed / f"{name}.ipynb"
        if src.is_file():
            env = nbformat.read(src, as_version=4).metadata.get("melib", {}).get("environment")
            if env:
                envs[name] = env
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    build = environment()
    lines = [f"Built {now} on {build['machine']['cpu']} ({build['machine']['cores']} cores, "
             f"{build['machine']['system']}, {build['machine']['architecture']}), melib {build['melib_version']}, "
             f"{_commit(build)}.", ""]
    if not envs:
        return "\n".join(lines + ["No chapter of this build recorded its environment."]) + "\n"
    packages = list(next(iter(envs.values()))["packages"])
    lines += ["| package | version | chapters |", "| --- | --- | --- |"]
    for pkg in packages:
        seen: dict[str, list[str]] = {}
        for name, env in envs.items():
            seen.setdefault(str(env["packages"].get(pkg) or "absent"), []).append(name)
        for version, names in seen.items():
            lines.append(f"| {pkg} | {version} | {'all' if len(names) == len(envs) else ', '.join(names)} |")
    machines = {json.dumps(env.get("machine"), sort_keys=True) for env in envs.values()}
    commits = sorted({_commit(env) for env in envs.values()})
    lines += ["", f"The chapters were executed on {len(machines)} machine(s): "
              + "; ".join(f"{m['cpu']} ({m['cores']} cores)" for m in map(json.loads, sorted(machines)))
              + f", from {'; '.join(commits)}."]
    return "\n".join(lines) + "\n"


# ---- the build -----------------------------------------------------------------------------------------

def _toc_files(toc: dict) -> list[str]:
    found = []

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if k in ("file", "root") and isinstance(v, str):
                    found.append(v)
                else:
                    walk(v)
        elif isinstance(node, list):
            for item in node:
                walk(item)
    walk(toc)
    return found


def _exists(book: Path, entry: str) -> bool:
    p = book / entry
    return p.exists() or any(p.with_name(p.name + ext).exists() for ext in (".md", ".ipynb", ".rst"))


def _write_atomic(dst: Path, text: str | bytes) -> None:
    tmp = dst.with_name(f".{dst.name}.tmp-{os.getpid()}")
    tmp.write_bytes(text if isinstance(text, bytes) else text.encode())
    os.replace(tmp, dst)


def _tail(text: str, n: int = 40) -> str:
    return "\n".join(text.splitlines()[-n:])


def build_book(book_dir="book", executed_dir="notebooks/executed", missing: str = "error",
               strict: bool = False, timeout: float = 1800, leave_out=(), refused=None) -> Path:
    """Copy the papermill-executed notebooks into ``<book_dir>/executed/`` for reading (:func:`reader_copy`),
    write the landing figure and the colophon, and build the HTML book.

    Runs the venv's ``jupyter-book build`` (the sibling of ``sys.executable``) with ``execute_notebooks: off``,
    so nothing is re-run. ``missing``: what to do when a page of ``_toc.yml`` is absent - "error" (default)
    raises; "placeholder" writes a page saying the notebook has not been executed yet. Returns the path of
    ``_build/html/index.html``; a failed build raises :class:`BookBuildError` with the tail of the log.
    ``strict=True`` turns Sphinx warnings (a broken reference, an unknown citation) into a failed build.
    ``leave_out``: chapters whose executed copy is not used (its latest run failed), as if absent.
    ``refused``: for chapters whose latest run stopped, what stopped it (:func:`refusal`); each gets a page that
    says so (:func:`refused_copy` of its partial notebook in ``<executed_dir>/.partial/``, else a page under its
    title with the refusal box).
    """
    import nbformat

    if missing not in ("error", "placeholder"):
        raise ConfigError(f"missing={missing!r}; use 'error' or 'placeholder'")
    book = Path(book_dir).resolve()
    toc_path = book / "_toc.yml"
    if not toc_path.is_file() or not (book / "_config.yml").is_file():
        raise DataError(book, "a Jupyter Book folder with _config.yml and _toc.yml", "missing")
    executed = book / "executed"
    executed.mkdir(exist_ok=True)
    src = Path(executed_dir)
    notebooks = [nb for nb in sorted(src.glob("*.ipynb")) if nb.stem not in set(leave_out)] if src.is_dir() else []
    for old in [*executed.glob("*.ipynb"), *executed.glob("*.md"), *executed.glob("*.png")]:
        if old.suffix != ".ipynb" or old.stem not in {nb.stem for nb in notebooks} | set(refused or ()):
            old.unlink()
    for nb in notebooks:
        _write_atomic(executed / nb.name, nbformat.writes(reader_copy(nbformat.read(nb, as_version=4), nb.stem)))
    refused = dict(refused or {})
    for name, info in refused.items():
        partial = src / ".partial" / f"{name}.ipynb"
        if partial.is_file():
            copy = refused_copy(nbformat.read(partial, as_version=4), name, info)
            _write_atomic(executed / f"{name}.ipynb", nbformat.writes(copy))

    toc = yaml.safe_load(toc_path.read_text())
    absent = [f for f in _toc_files(toc) if not _exists(book, f)]
    prose = [f for f in absent if not f.startswith("executed/")]
    if prose or (absent and missing == "error"):
        raise BookBuildError(f"{toc_path}: pages listed but absent: {', '.join(prose or absent)}"
                             + ("" if prose else f" (executed notebooks are taken from {src.resolve()}; "
                                                 f"missing='placeholder' builds without them)"))
    for entry in absent:
        page = (book / entry).with_suffix(".md")
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(placeholder_page(entry, executed_dir, refused.get(Path(entry).name)))
    chapters = [f.split("/", 1)[1] for f in _toc_files(toc) if f.startswith("executed/")]
    _write_atomic(executed / "glance.md", glance_page(src, executed))
    _write_atomic(executed / "colophon.md", colophon_page(src, chapters))
    write_deviations(book)

    exe = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(exe) if exe.exists() else "jupyter-book", "build", str(book), "--all"]
    if strict:
        cmd += ["-W", "--keep-going"]
    log_path = book / "_build" / "melib-build.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as e:
        raise BookBuildError(f"cannot run {cmd[0]}: {e}; install jupyter-book 1.0.x into this venv") from e
    except subprocess.TimeoutExpired as e:
        raise BookBuildError(f"jupyter-book build timed out after {timeout} s") from e
    log = (proc.stdout or "") + (proc.stderr or "")
    log_path.write_text(log)
    index = book / "_build" / "html" / "index.html"
    if proc.returncode != 0 or not index.is_file():
        raise BookBuildError(f"jupyter-book build {book} failed (exit {proc.returncode}); full log in "
                             f"{log_path}; last lines:\n{_tail(log)}")
    return index

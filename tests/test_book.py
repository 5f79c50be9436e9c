"""The built book as a reader sees it, in headless Chromium: every chapter page of the smoke book shows its figures
and opening box, folds its code into one "Re-run this chapter" block, prints no NaN / None cell, no 0..N index
and no path of the machine that built it (a screenshot of each is kept, under the folder the test prints); the
frames of licensed ("real") clips stay out of the HTML unless the user opted in.

Needs Debian's ``chromium`` (``make test`` installs it); skipped with that reason when it is absent.
"""
from __future__ import annotations

import html as html_lib
import os
import re
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest
from bs4 import BeautifulSoup

from melib import book, display, params, quantities, records, study

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed "
                                                             "(Debian: apt-get install chromium)")
MODEL_CHAPTERS = ("10_dlhn", "11_psn", "12_c3d", "13_cropnet", "14_local_regions")


def _copy_book(dest: Path) -> Path:
    shutil.copytree(ROOT / "book", dest, ignore=shutil.ignore_patterns("_build", "executed"))
    return dest


def _page(index: Path, chapter: str) -> Path:
    return index.parent / "executed" / f"{chapter}.html"


def _images(page: Path) -> list[Path]:
    """The image files a page's <img> tags show (notebook outputs are written to _images/)."""
    srcs = re.findall(r'<img[^>]*\ssrc="([^"]+)"', page.read_text())
    return [(page.parent / html_lib.unescape(s)).resolve() for s in srcs if not s.startswith(("http", "data:"))]


def _output_images(page: Path) -> list[Path]:
    return [p for p in _images(page) if "_images" in p.parts]


def _error_outputs(page: Path) -> list[str]:
    """Output areas that show an error: tracebacks, and stderr streams naming an error or a warning."""
    text = page.read_text()
    bad = re.findall(r'class="output (?:traceback|error)[^"]*"', text)
    bad += ["Traceback"] if "Traceback (most recent call last)" in text else []
    for block in re.findall(r'class="output stderr[^"]*">(.*?)</div>', text, re.S):
        if re.search(r"Error|Warning|Exception", block):
            bad.append(re.sub(r"<[^>]+>", "", block)[:300])
    return bad


def screenshot(url: str, out: Path, profile_dir: Path, height: int = 12000) -> np.ndarray:
    """A headless Chromium screenshot of ``url`` (BGR array), from a fresh user-data dir."""
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", f"--user-data-dir={profile_dir}", "--hide-scrollbars",
           f"--window-size=1280,{height}", f"--screenshot={out}", url]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    img = cv2.imread(str(out))
    assert img is not None, f"no screenshot from chromium (exit {proc.returncode}): {proc.stderr[-1000:]}"
    return img


def _colourful(img: np.ndarray) -> float:
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV)
    return float(((hsv[..., 1] > 80) & (hsv[..., 2] > 50)).mean())


def _frames_found(images: list[Path], frame_files: list[str]) -> list[tuple[str, str]]:
    """(image, frame) pairs where a 32x32 patch of a frame's centre appears pixel for pixel in an image."""
    found = []
    decoded = [(p, cv2.imread(str(p), cv2.IMREAD_COLOR)) for p in images]
    for f in frame_files:
        frame = cv2.imread(f, cv2.IMREAD_COLOR)
        h, w = frame.shape[:2]
        patch = np.ascontiguousarray(frame[h // 2 - 16: h // 2 + 16, w // 2 - 16: w // 2 + 16])
        for p, img in decoded:
            if img is None or img.shape[0] < 32 or img.shape[1] < 32:
                continue
            # OpenCV finds the best place in float32 (I^2 - 2IT + T^2: an exact match need not compute to 0, and
            # the rounding differs between CPUs); the pixels there are then compared exactly
            x, y = cv2.minMaxLoc(cv2.matchTemplate(img, patch, cv2.TM_SQDIFF))[2]
            if np.array_equal(img[y:y + 32, x:x + 32], patch):
                found.append((p.name, Path(f).name))
    return found


# ---- what a reader sees ----------------------------------------------------------------------------------

LOCAL = re.compile(r"(?<![\w.:/-])/(?:home|root|tmp|work|Users|mnt|srv|var|opt|private)/[^\s'\"<>)]+")
RERUN_TITLE = book.RERUN


# what did not render: a placeholder swallowed as an HTML tag ("published ( Table N)"), a command flag whose "--"
# typography made a dash, words of the project's own history
PLACEHOLDER = re.compile(r"\(\s+(?:Table\b|\))")  # "f()" in code is no placeholder
DASH_FLAG = re.compile(r"(?<![\w-])[–—][a-z][\w-]*")
JARGON = re.compile(r"issue #\d+, item|\bBefore: ")


def _folded(node) -> bool:
    return any(d.name == "details" and not d.has_attr("open") for d in node.parents)


def reader_findings(page_html: str, local=()) -> dict:
    """What a reader of one chapter page (its rendered DOM) stumbles over: code shown unfolded (cell inputs and
    code blocks outside a closed <details>), table cells that say NaN / None / <NA>, rows of a raw 0..N index,
    absolute paths (of the usual roots, or any of ``local``), stderr outputs; and what it must have: re-run
    blocks (closed <details> titled "Re-run this chapter"), opening boxes, figures (output images)."""
    soup = BeautifulSoup(page_html, "html.parser")
    main = soup.select_one("article") or soup
    code = [c for c in main.select("div.cell_input, div.highlight") if not _folded(c)
            and not c.find_parent("div", class_=("cell_output", "cell_input"))]
    cells = [c for c in main.select("table td, table th") if display.is_missing(c.get_text(strip=True))]
    index_rows = 0
    for t in main.select("table"):
        heads = [tr.find(["th", "td"]) for tr in t.select("tbody tr")]
        texts = [h.get_text(strip=True) if h is not None and h.name == "th" else None for h in heads]
        if texts and texts == [str(i) for i in range(len(texts))]:
            index_rows += len(texts)
    text = main.get_text(" ")
    paths = LOCAL.findall(text)
    paths += [s for s in local if s and s in text and not any(s in f for f in paths)]
    rerun = [d for d in main.select("details") if RERUN_TITLE in d.get_text() and not d.has_attr("open")]
    return {"code shown": len(code), "NaN/None cells": len(cells), "raw index rows": index_rows,
            "local paths": len(paths), "stderr": len(main.select("div.output.stderr, div.stderr")),
            "placeholders": PLACEHOLDER.findall(text), "dash flags": DASH_FLAG.findall(text),
            "jargon": JARGON.findall(text),
            "re-run blocks": len(rerun), "rerun_text": " ".join(d.get_text(" ") for d in rerun),
            "boxes": len(main.select("div.melib-summary")),
            "figures": [html_lib.unescape(i["src"]) for i in main.select("div.cell_output img")]}


# Injected into a copy of a page: the laid-out width of every table of the article against the text column's.
_MEASURE = """<script>(function () {
  var art = document.querySelector('article.bd-article') || document.querySelector('article') || document.body;
  var col = art.getBoundingClientRect().width, out = [];
  art.querySelectorAll('table').forEach(function (t) {
    var head = Array.from(t.querySelectorAll('thead th')).map(function (x) { return x.textContent.trim(); });
    out.push({width: Math.max(t.getBoundingClientRect().width, t.scrollWidth), column: col,
              head: head.join(' | ').slice(0, 160)});
  });
  var pre = document.createElement('pre'); pre.id = 'melib-widths'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();</script>"""


def table_widths(page: Path, profile_dir: Path, window: int = 1400) -> list[dict]:
    """Every table of ``page`` (a built HTML file) as Chromium lays it out in a ``window``-px-wide window: its
    width, the text column's and its header; ``wide``: wider than the column (the reader scrolls sideways)."""
    import json

    copy = page.resolve().with_name(f".widths-{page.name}")
    copy.write_text(page.read_text().replace("</body>", _MEASURE + "</body>"))
    try:
        cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", f"--user-data-dir={profile_dir}",
               f"--window-size={window},900", "--dump-dom", copy.as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    finally:
        copy.unlink()
    found = re.search(r'<pre id="melib-widths"[^>]*>(.*?)</pre>', proc.stdout, re.S)
    assert found, f"no measure from chromium (exit {proc.returncode}): {proc.stderr[-1000:]}"
    return [{**t, "wide": t["width"] > t["column"] + 1} for t in json.loads(html_lib.unescape(found.group(1)))]


def headline_table(page: str, head: str) -> bool:
    """The tables no reader may have to scroll: the deviations pages', the results overview's, and every table
    of published numbers beside this study's or of verdicts."""
    return page.startswith("deviations/") or OVERVIEW_PAGE in page or bool(re.search(r"published|verdict", head))


OVERVIEW_PAGE = "50_results_overview"


def book_tables(html_root: Path, profile_dir: Path) -> dict[str, list[dict]]:
    """:func:`table_widths` of every page of a built book (``_build/html``) that has a table."""
    out = {}
    for page in sorted(html_root.rglob("*.html")):
        rel = str(page.relative_to(html_root))
        if rel.startswith(("_", "genindex", "search")) or "<table" not in page.read_text():
            continue
        out[rel] = table_widths(page, profile_dir)
    return out


def dump_dom(url: str, profile_dir: Path) -> str:
    """The page's DOM after Chromium rendered it (scripts run)."""
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", f"--user-data-dir={profile_dir}", "--dump-dom", url]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert "<article" in proc.stdout, f"no page from chromium (exit {proc.returncode}): {proc.stderr[-1000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def smoke_book(tmp_path_factory, synth_small):
    """The smoke study of every chapter on the small synthetic set, built in a temporary copy of the book."""
    tmp = tmp_path_factory.mktemp("book_synth")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MELIB_HOME", str(tmp))
        for var in ("MELIB_CACHE", "MELIB_RUNS", "MELIB_DATA_SYNTH"):
            mp.delenv(var, raising=False)
        index = study.run("smoke", data=str(synth_small), book_dir=_copy_book(tmp / "book"),
                          executed_dir=tmp / "executed", progress=False)
    return index, tmp


@pytest.fixture(scope="module")
def artifacts(request, tmp_path_factory) -> Path:
    """Where the chapter screenshots are kept: ``$MELIB_BOOK_SHOTS``, else pytest's cache folder
    (``.pytest_cache/d/book-screenshots``, git-ignored; a temporary folder without the cache plugin); printed."""
    cache = getattr(request.config, "cache", None)
    out = Path(os.environ.get("MELIB_BOOK_SHOTS") or (cache.mkdir("book-screenshots") if cache is not None
                                                      else tmp_path_factory.mktemp("book-screenshots")))
    out.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots of the smoke book's chapters: {out}")
    return out


@needs_chromium
def test_every_chapter_reads_like_a_supplement(smoke_book, synth_small, artifacts, tmp_path):
    index, home = smoke_book
    local = [str(home), str(synth_small), str(ROOT)]
    chapters = study.toc_notebooks(ROOT / "book")
    assert len(chapters) >= 11
    problems = {}
    for name in chapters:
        page = _page(index, name)
        found = reader_findings(dump_dom(page.as_uri(), tmp_path / "chromium-dom"), local)
        shot = screenshot(page.as_uri(), artifacts / f"{name}.png", tmp_path / "chromium-shot")
        bad = {k: v for k, v in found.items() if k in ("code shown", "NaN/None cells", "raw index rows",
                                                       "local paths", "stderr", "placeholders", "dash flags",
                                                       "jargon") and v}
        if found["re-run blocks"] != 1:
            bad["re-run blocks"] = found["re-run blocks"]
        elif not ("papermill" in found["rerun_text"] and f"notebooks/{name}.ipynb" in found["rerun_text"]):
            bad["re-run block without the papermill command"] = found["rerun_text"][:200]
        if found["boxes"] != 1:
            bad["opening boxes"] = found["boxes"]
        if not found["figures"]:
            bad["figures"] = 0
        for src in found["figures"]:
            img = cv2.imread(str((page.parent / src).resolve()))
            if img is None or img.std() <= 5:
                bad.setdefault("blank or missing figures", []).append(src)
        if _error_outputs(page):
            bad["errors"] = _error_outputs(page)
        if cv2.cvtColor(shot[:1600], cv2.COLOR_BGR2GRAY).astype(float).var() <= 500:  # the first screen
            bad["screenshot"] = "nearly blank"
        if bad:
            problems[name] = bad
    assert problems == {}


@pytest.fixture(scope="module")
def wide_tables(smoke_book, tmp_path_factory):
    """(tables measured, {page: heads of the tables wider than the text column}) at a 1400-px window."""
    index, _ = smoke_book
    tables = book_tables(index.parent, tmp_path_factory.mktemp("chromium-tables"))
    wide = {page: [t["head"] for t in ts if t["wide"]] for page, ts in tables.items()}
    return sum(map(len, tables.values())), {page: heads for page, heads in wide.items() if heads}


@needs_chromium
def test_at_most_one_table_in_ten_is_wider_than_the_text_column(wide_tables):
    n, wide = wide_tables
    n_wide = sum(map(len, wide.values()))
    assert n >= 40 and n_wide <= n / 10, f"{n_wide} of {n} tables wider than the text column: {wide}"


@needs_chromium
@pytest.mark.xfail(strict=False, reason="known (issue 24): tables of more than four rows that are still too wide once "
                   "wrapped (the known-answer chapter's recipe and verdict tables, C3D's cross-dataset table) are "
                   "not yet split into column groups")
def test_no_headline_table_is_wider_than_the_text_column(wide_tables):
    _, wide = wide_tables
    assert {p: [h for h in hs if headline_table(p, h)] for p, hs in wide.items()
            if any(headline_table(p, h) for h in hs)} == {}


@needs_chromium
def test_the_width_check_sees_a_table_that_needs_scrolling(tmp_path):
    cells = "".join(f"<td style='white-space: nowrap'>a long cell that does not wrap {i}</td>" for i in range(12))
    page = tmp_path / "p.html"
    page.write_text(f"<html><body><article style='width: 600px'><table><tr>{cells}</tr></table>"
                    "<table><thead><tr><th>published</th></tr></thead><tr><td>0.5</td></tr></table></article>"
                    "</body></html>")
    found = table_widths(page, tmp_path / "chromium")
    assert [t["wide"] for t in found] == [True, False] and found[0]["column"] == 600
    assert headline_table("executed/11_psn.html", found[1]["head"]) and not headline_table("x.html", "fold")


def test_the_reader_checks_see_what_a_reader_would_stumble_over():
    page = """<article>
      <div class="cell_input"><pre>import melib</pre></div>
      <details><summary>Re-run this chapter</summary><div class="highlight"><pre>papermill a b</pre></div></details>
      <table><tbody><tr><th>0</th><td>0.5</td></tr><tr><th>1</th><td>NaN</td></tr></tbody></table>
      <table><tbody><tr><th>fold1</th><td>None</td></tr></tbody></table>
      <p>data root /work/someone/data/synth</p>
      <div class="cell_output"><img src="_images/a.png"></div>
    </article>"""
    words = reader_findings("<article><p>published ( Table N), on real data ( ); run <code>–config</code>;"
                            " (issue #12, item 3) Before: x; 0.1–0.2 – fine</p></article>")
    assert (len(words["placeholders"]), words["dash flags"], len(words["jargon"])) == (2, ["–config"], 2)
    assert reader_findings("<article><p>melib.records.provenance() and f( x)</p></article>")["placeholders"] == []
    found = reader_findings(page)
    assert (found["code shown"], found["NaN/None cells"], found["raw index rows"], found["local paths"],
            found["re-run blocks"], found["figures"]) == (1, 2, 2, 1, 1, ["_images/a.png"])
    opened = page.replace("<details>", "<details open>")
    assert reader_findings(opened)["code shown"] == 2 and reader_findings(opened)["re-run blocks"] == 0


@needs_chromium
def test_the_landing_page_and_the_colophon(smoke_book, tmp_path):
    index, _ = smoke_book
    landing = index.parent / "intro.html"  # index.html redirects there
    found = reader_findings(dump_dom(landing.as_uri(), tmp_path / "chromium"))
    glance = [s for s in BeautifulSoup(landing.read_text(), "html.parser").select("img")
              if "results_at_a_glance" in s.get("src", "")]
    assert len(glance) == 1, "no results-at-a-glance figure on the landing page"
    img = cv2.imread(str((index.parent / html_lib.unescape(glance[0]["src"])).resolve()))
    assert img is not None and img.std() > 5 and img.shape[0] > 300
    assert found["local paths"] == 0
    colophon = BeautifulSoup((index.parent / "colophon.html").read_text(), "html.parser").get_text(" ")
    packages = records.provenance()["packages"]
    for name in ("torch", "numpy", "scipy", "opencv", "scikit-image", "scikit-learn", "pandas", "dlib"):
        assert re.search(rf"\b{re.escape(name)}\s+{re.escape(str(packages[name]))}\s", colophon), name
    assert "cores" in colophon and re.search(r"Built \d{4}-\d{2}-\d{2}", colophon)


@needs_chromium
def test_a_chapter_shows_its_figures_and_no_errors(smoke_book, tmp_path):
    index, _ = smoke_book
    chapter = "10_dlhn"
    page = _page(index, chapter)
    images = _output_images(page)
    assert len(images) >= 2, f"{chapter}: {len(images)} figures in the page"
    for p in images:
        img = cv2.imread(str(p))
        assert img is not None and img.std() > 5, f"{p.name} is missing or blank"
    assert _error_outputs(page) == []

    shot = screenshot(page.as_uri(), tmp_path / "chapter.png", tmp_path / "chromium-a")
    # a short page of the same book without figures
    blank = screenshot((index.parent / "colophon.html").as_uri(), tmp_path / "prose.png", tmp_path / "chromium-b")
    grey, grey0 = (cv2.cvtColor(s, cv2.COLOR_BGR2GRAY).astype(float) for s in (shot, blank))
    assert grey.var() > 2 * grey0.var() and grey.var() > 500, (grey.var(), grey0.var())
    assert _colourful(shot) > 3 * _colourful(blank), (_colourful(shot), _colourful(blank))
    # the figures are drawn where the page puts them: the lower part of the screenshot is not empty
    assert cv2.cvtColor(shot[1500:], cv2.COLOR_BGR2GRAY).astype(float).var() > 500


def test_each_quantity_is_stated_once(smoke_book):
    """Every recipe check, recipe setting, known-answer seed record and headline the built book states has one
    value on every page that states it (melib.quantities: tables by their columns, marked numbers in text)."""
    index, _ = smoke_book
    found = quantities.read_book(index.parent)
    counts = quantities.stated(found, ("recipe check", "recipe setting", "known-answer seeds", "headline"))
    assert all(counts.values()), counts  # the book states each kind, so the check below looks at something
    bad = quantities.conflicts(found)
    assert bad.empty, "\n" + quantities.describe(bad)


def test_the_error_detector_sees_a_traceback(tmp_path):
    page = tmp_path / "p.html"
    page.write_text('<div class="output traceback highlight-ipythontb">Traceback (most recent call last):</div>'
                    '<div class="output stderr highlight-myst-ansi"><pre>UserWarning: bad</pre></div>')
    assert len(_error_outputs(page)) == 3


@needs_chromium
def test_real_frames_stay_out_of_the_book_unless_opted_in(tmp_path, monkeypatch, casme2_release):
    for name in params.releases():
        monkeypatch.delenv(f"MELIB_DATA_{name.upper()}", raising=False)
    monkeypatch.setenv("MELIB_CONFIG", str(tmp_path / "no-such-melib.yaml"))
    monkeypatch.setenv("MELIB_DATA_CASME2", str(casme2_release))  # no synthetic-set marker: read as real
    monkeypatch.setenv("MELIB_HOME", str(tmp_path))
    real = params.samples(params.resolve("smoke", data="real"))
    assert not real["synthetic"].any()
    frames = [f for fs in real["frames"] for f in fs]
    book = _copy_book(tmp_path / "book")
    kw = dict(data="real", book_dir=book, executed_dir=tmp_path / "executed", progress=False)

    index = study.run("smoke", notebooks=["00_datasets", "01_preprocessing"], **kw)
    for chapter in ("00_datasets", "01_preprocessing"):
        page = _page(index, chapter)
        assert _error_outputs(page) == []
        assert "show_real_frames=True" in page.read_text()  # the reader is told what was withheld, and how
        assert _frames_found(_images(page), frames) == [], chapter
    # the preprocessing chapter keeps its one chart (the tp curve) and draws no face
    assert len(_output_images(_page(index, "01_preprocessing"))) <= 1
    shot = screenshot(_page(index, "00_datasets").as_uri(), tmp_path / "optout.png", tmp_path / "chromium")
    assert shot.std() > 5

    index = study.run("smoke", notebooks=["00_datasets"], show_real_frames=True, **kw)
    found = _frames_found(_images(_page(index, "00_datasets")), frames)
    assert len(found) >= 3, found  # the onset, apex and offset frames of one clip, pixel for pixel

"""The built book as a reader sees it: a chapter in headless Chromium shows its figures and no errors, and the
frames of licensed ("real") clips stay out of the HTML unless the user opted in.

Needs Debian's ``chromium`` (the CI script installs it); skipped with that reason when it is absent.
"""
from __future__ import annotations

import html as html_lib
import re
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from melib import params, study

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed "
                                                             "(Debian: apt-get install chromium)")
MODEL_CHAPTERS = ("10_dlhn", "11_psn", "12_c3d", "13_cropnet", "14_local_regions")


def _chapter() -> str:
    """The chapter a reader looks at: the first model chapter written so far, else the preprocessing one."""
    return next((n for n in MODEL_CHAPTERS if (ROOT / "notebooks" / f"{n}.ipynb").is_file()), "01_preprocessing")


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
            if cv2.minMaxLoc(cv2.matchTemplate(img, patch, cv2.TM_SQDIFF))[0] == 0:
                found.append((p.name, Path(f).name))
    return found


@pytest.fixture(scope="module")
def synthetic_book(tmp_path_factory, synth_small):
    """The smoke study of one chapter on the small synthetic set, built in a temporary copy of the book."""
    tmp = tmp_path_factory.mktemp("book_synth")
    chapter = _chapter()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MELIB_HOME", str(tmp))
        index = study.run("smoke", data=str(synth_small), notebooks=[chapter], book_dir=_copy_book(tmp / "book"),
                          executed_dir=tmp / "executed", progress=False)
    return index, chapter


@needs_chromium
def test_a_chapter_shows_its_figures_and_no_errors(synthetic_book, tmp_path):
    index, chapter = synthetic_book
    page = _page(index, chapter)
    images = _output_images(page)
    minimum = 4 if chapter == "01_preprocessing" else 2  # 01: landmarks, RPCA, residuals, CGPO, tp
    assert len(images) >= minimum, f"{chapter}: {len(images)} figures in the page"
    for p in images:
        img = cv2.imread(str(p))
        assert img is not None and img.std() > 5, f"{p.name} is missing or blank"
    assert _error_outputs(page) == []

    shot = screenshot(page.as_uri(), tmp_path / "chapter.png", tmp_path / "chromium-a")
    # a placeholder chapter of the same book: text only, no figures
    placeholder = next(n for n in study.toc_notebooks(ROOT / "book") if n != chapter)
    blank = screenshot(_page(index, placeholder).as_uri(), tmp_path / "placeholder.png", tmp_path / "chromium-b")
    grey, grey0 = (cv2.cvtColor(s, cv2.COLOR_BGR2GRAY).astype(float) for s in (shot, blank))
    assert grey.var() > 2 * grey0.var() and grey.var() > 500, (grey.var(), grey0.var())
    assert _colourful(shot) > 3 * _colourful(blank), (_colourful(shot), _colourful(blank))
    # the figures are drawn where the page puts them: the lower part of the screenshot is not empty
    assert cv2.cvtColor(shot[1500:], cv2.COLOR_BGR2GRAY).astype(float).var() > 500


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

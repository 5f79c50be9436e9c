"""Frame files: numbering, listing (one naming set per clip, macOS AppleDouble files left out), reading."""
from __future__ import annotations

import os
import re
from pathlib import Path

import cv2
import numpy as np

from ..errors import DataError

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff"}
JPEG_EXTS = {".jpg", ".jpeg"}
_DIGITS = re.compile(r"\d+")
_LAST_DIGITS = re.compile(r"\d+(?=\D*$)")


def frame_number(path: str | Path) -> int:
    """The frame number in a frame file name: the last run of digits in its stem (``reg_img46.jpg`` -> 46)."""
    runs = _DIGITS.findall(Path(path).stem)
    if not runs:
        raise DataError(path, "a frame file name with a frame number (e.g. img46.jpg)")
    return int(runs[-1])


def frame_pattern(path: str | Path) -> str:
    """The naming set of a frame file: its name with the frame number as ``*`` (``reg_img46.jpg`` ->
    ``reg_img*.jpg``)."""
    p = Path(path)
    return _LAST_DIGITS.sub("*", p.stem, count=1) + p.suffix.lower()


def scan(folder: str | Path) -> tuple[list[Path], int]:
    """(image files with a frame number, ordered by it; number of macOS AppleDouble ``._*`` files left out)."""
    try:
        entries = [e for e in os.scandir(folder) if e.is_file() and Path(e.name).suffix.lower() in IMAGE_EXTS]
    except (FileNotFoundError, NotADirectoryError):
        return [], 0
    apple = sum(e.name.startswith("._") for e in entries)
    images = [Path(e.path) for e in entries if not e.name.startswith("._") and _DIGITS.search(Path(e.name).stem)]
    return sorted(images, key=frame_number), apple


def list_frames(folder: str | Path) -> list[Path]:
    """The image files in ``folder``, ordered by frame number (``img100`` after ``img99``); other files and
    macOS AppleDouble ``._*`` files are left out."""
    return scan(folder)[0]


def frame_sets(frames: list[Path]) -> dict[str, list[Path]]:
    """Frames grouped by naming set (``img*.jpg``, ``reg_img*.jpg``), each in frame order."""
    out: dict[str, list[Path]] = {}
    for f in frames:
        out.setdefault(frame_pattern(f), []).append(f)
    return out


def has_frames(folder: Path) -> bool:
    return folder.is_dir() and bool(scan(folder)[0])


def _decode(path: str, raw: bytes, flags: int) -> np.ndarray:
    """``cv2.imdecode`` of one file's bytes; a JPEG without its end-of-image marker after the last scan is refused
    first (libjpeg would fill the missing part with grey and only warn on stderr)."""
    if Path(path).suffix.lower() in JPEG_EXTS and not raw.endswith(b"\xff\xd9"):  # the usual end: no search
        last_scan = raw.rfind(b"\xff\xda")
        if last_scan < 0 or raw.find(b"\xff\xd9", last_scan) < 0:
            raise DataError(path, "a complete JPEG (an end-of-image marker after its last scan)",
                            f"a truncated file of {len(raw)} bytes")
    img = cv2.imdecode(np.frombuffer(raw, np.uint8), flags) if raw else None
    if img is None:
        raise DataError(path, "a readable image", "a file OpenCV cannot decode")
    return img


def read_frames(frames, gray: bool = False) -> np.ndarray:
    """Frames as uint8, (T, H, W, 3) RGB or (T, H, W) grey; a missing, unreadable or truncated frame, or frames of
    different sizes, raise DataError naming the file."""
    out, shape = [], None
    for f in frames:
        try:
            raw = Path(f).read_bytes()
        except FileNotFoundError:
            raise DataError(f, "a readable image", "no such file") from None
        img = _decode(str(f), raw, cv2.IMREAD_GRAYSCALE if gray else cv2.IMREAD_COLOR)
        if shape is None:
            shape = img.shape[:2]
        elif img.shape[:2] != shape:
            raise DataError(f, f"a frame of size {shape[1]}x{shape[0]} like {Path(frames[0]).name}",
                            f"{img.shape[1]}x{img.shape[0]}")
        out.append(img if gray else cv2.cvtColor(img, cv2.COLOR_BGR2RGB))
    return np.stack(out).astype(np.uint8, copy=False)

"""CropNet's Cropped Gaussian Pyramid with Overlapping (CGPO, CropNet 3.2.2).

The text gives: a 320 x 320 input, down-sampled to 160 x 160; each resolution divided into overlapping
sub-images with overlap factor alpha = 0.3; 10 sub-images in all; features z_0 .. z_9 of which z_1 .. z_9 get
position embeddings (3.2.4). Choices where it is silent (the book lists them as deviations):

- levels: the 160 x 160 level is one whole sub-image (z_0, no position embedding) and the 320 x 320 level is
  a 3 x 3 grid (z_1 .. z_9, row-major), 1 + 9 = 10;
- overlap: on a level of side L cut into g tiles per side, tiles have side s = L / (g - (g - 1) alpha) and
  stride s (1 - alpha), so neighbouring tiles share the fraction alpha of their side and the grid covers the
  level exactly (320, g = 3, alpha = 0.3: s = 133.3, stride 93.3); boxes are rounded to whole pixels;
- every sub-image is resized to ``out_size`` (160, "we divide them into several 160 x 160 images") with
  bilinear interpolation; the input is resized to ``size`` with area averaging when shrinking, bilinear
  otherwise; the pyramid step is OpenCV's pyrDown (5 x 5 Gaussian, then every other pixel).
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from ..errors import DataError

SIZE = 320
ALPHA = 0.3
OUT_SIZE = 160
GRIDS = (3, 1)  # tiles per side on the 320 and 160 levels


def _check_image(image, path=None) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim not in (2, 3) or 0 in image.shape or (image.ndim == 3 and image.shape[2] not in (1, 3)):
        raise DataError(path, "an image (H, W) or (H, W, C) with C = 1 or 3", f"shape {image.shape}")
    if np.issubdtype(image.dtype, np.floating) and not np.isfinite(image).all():
        raise DataError(path, "finite pixel values", f"{int((~np.isfinite(image)).sum())} NaN/inf pixels")
    return image


def gaussian_pyramid(image, levels: int = 2, size: int | None = SIZE, path=None) -> list[np.ndarray]:
    """``levels`` images, the first resized to ``size`` x ``size`` (None keeps it), each next one
    cv2.pyrDown of the previous (half the side)."""
    image = _check_image(image, path)
    if image.dtype not in (np.uint8, np.uint16, np.int16, np.float32, np.float64):  # what OpenCV resizes
        image = image.astype(np.float64)
    if size is not None and image.shape[:2] != (size, size):
        shrink = image.shape[0] > size and image.shape[1] > size
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    out = [image]
    for _ in range(levels - 1):
        out.append(cv2.pyrDown(out[-1]))
    return out


def tile_boxes(side: int, grid: int, alpha: float = ALPHA) -> list[tuple[int, int, int, int]]:
    """Boxes (y0, x0, y1, x1) of a grid x grid tiling of a side x side image whose neighbouring tiles overlap
    by the fraction ``alpha`` of a tile's side (see the module docstring), row-major."""
    if not 0 <= alpha < 1:
        raise ValueError(f"alpha must be in [0, 1), got {alpha}")
    s = side / (grid - (grid - 1) * alpha)
    starts = [i * s * (1 - alpha) for i in range(grid)]
    edges = [(int(round(a)), int(round(a + s))) for a in starts]
    return [(y0, x0, y1, x1) for y0, y1 in edges for x0, x1 in edges]


def cgpo(image, size: int = SIZE, grids: Sequence[int] = GRIDS, alpha: float = ALPHA, out_size: int = OUT_SIZE,
         path=None) -> tuple[np.ndarray, np.ndarray]:
    """CGPO sub-images of an ARS/RRS image (CropNet 3.2.2).

    ``grids[i]`` is the number of tiles per side on pyramid level i (level 0 = ``size``, each next level half
    the side). Returns ``(crops, boxes)``: crops (K, out_size, out_size[, C]) in the image's dtype, ordered
    from the coarsest level to the finest (so the whole-image crop comes first as z_0) and row-major within a
    level; boxes (K, 5) int rows (level, y0, x0, y1, x1) in that level's pixels. The defaults give K = 10.
    """
    levels = gaussian_pyramid(image, len(grids), size, path)
    crops, boxes = [], []
    for level in reversed(range(len(grids))):
        img = levels[level]
        for y0, x0, y1, x1 in tile_boxes(img.shape[0], grids[level], alpha):
            crop = img[y0:y1, x0:x1]
            if crop.shape[:2] != (out_size, out_size):
                crop = cv2.resize(crop, (out_size, out_size), interpolation=cv2.INTER_LINEAR)
            crops.append(crop)
            boxes.append((level, y0, x0, y1, x1))
    return np.stack(crops), np.array(boxes, dtype=np.int64)

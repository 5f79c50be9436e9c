"""The onset -> apex optical-flow input of the MEGC2019 composite's standard methods (STSTNet, OFF-ApexNet).

One pipeline, ``onset_apex_flow``: the face aligned on the onset frame (:func:`~melib.preprocess.face.face_track`,
grey, ``face_size`` pixels square), the TV-L1 flow from the onset to the apex frame and its optical strain
(:func:`~melib.preprocess.flow.onset_apex_flow`, the same computation as CropNet Table 4's flow rows), the first
``channels`` of (u, v, strain) each min-max scaled to [0, 1], then shrunk (area averaging) to ``size`` x
``size``. STSTNet eats (u, v, strain) at 28 x 28, OFF-ApexNet (u, v) at 28 x 28; a model's input spec
``{"flow": (C, S, S)}`` sets ``channels=C, size=S``.

Where the annotated apex is a placeholder (``apex_placeholder``: on the onset or the offset, CONTRIBUTING's
samples table), the middle frame stands in, as for a clip without an apex (``apex_estimated``): the flow
from the onset to itself would be zero.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .cache import cached
from .face import DEFAULT_MARGIN, face_track
from .flow import METHODS, onset_apex_flow
from .pipelines import _minmax, _path, _resize, enough_frames
from .registry import register
from .temporal import apex_position, middle_frame

CHANNELS = ("u", "v", "strain")
FLOW_FACE = 128  # project choice: the composite's methods resize the dataset's face crop, of no stated size
FLOW_SIZE = 28   # STSTNet and OFF-ApexNet: 28 x 28


def _flow_spec(spec: dict) -> dict:
    c, h, w = spec["flow"]
    if h != w:
        raise ConfigError(f"onset_apex_flow makes square images; the model asks for {h} x {w}")
    return {"channels": int(c), "size": int(h)}


def flow_apex(row, n_frames: int) -> int:
    """Position of the apex the flow ends at: the annotated one, or the middle frame where it is a placeholder."""
    if bool(row.get("apex_placeholder", False)):
        return middle_frame(n_frames)
    return apex_position(row)


@register("onset_apex_flow", face="face_size", min_face=FLOW_SIZE, from_spec=_flow_spec)
@cached(version=1)
def flow_inputs(row, channels: int = 3, size: int = FLOW_SIZE, face_size: int = FLOW_FACE, method: str = "tvl1",
                margin: float = DEFAULT_MARGIN) -> dict[str, np.ndarray]:
    """``{"flow": (channels, size, size)}`` float32 in [0, 1]: u, v (and the optical strain with
    ``channels=3``) from the onset to the apex frame of one clip, each channel min-max scaled."""
    if channels not in (1, 2, 3):
        raise ConfigError(f"channels must be 1, 2 or 3 of {CHANNELS}, not {channels!r}")
    if method not in METHODS:
        raise ConfigError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    enough_frames(row, "STSTNet / OFF-ApexNet")
    clip = face_track(row, size=(face_size, face_size), margin=margin, gray=True)["frames"]
    uvs = onset_apex_flow(clip, 0, flow_apex(row, len(clip)), method, path=_path(row))[..., :channels]
    image = _resize(_minmax(uvs).astype(np.float32), (size, size), channels_last=True)
    return {"flow": np.ascontiguousarray(image.reshape(size, size, channels).transpose(2, 0, 1), dtype=np.float32)}

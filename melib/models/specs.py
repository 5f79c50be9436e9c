"""What each registered model eats, as data: its input pipeline and its input spec as a function of its
keyword arguments (``melib.models.input_spec(name, profile, **kwargs)``), without building a network.

Each function below restates the shape its model's constructor writes into ``input_spec``; the test
``tests/test_models.py::test_registry_specs_equal_the_built_models`` builds every model under both profiles
(and the ablation switches) and checks that the two agree.
"""
from __future__ import annotations

from . import c3d, cropnet, dlhn, local_regions, local_regions_stages, psn
from ._registry import defaults, describe


def _c3d(a: dict) -> dict:
    return {"clip": (a["frames"], a["in_channels"], a["size"], a["size"])}


def _hcrnn(a: dict) -> dict:
    return {r: (a["frames"], a["in_channels"], *a["rois"][r]) for r in dlhn.ROIS}


def _rprnn(a: dict) -> dict:
    return {"sparse": (a["frames"], a["in_channels"], a["size"], a["size"])}


def _dlhn(a: dict) -> dict:
    h = {**defaults(dlhn.HCRNN), **(a.get("hcrnn") or {})}
    r = {**defaults(dlhn.RPRNN), **(a.get("rprnn") or {})}
    return {**_hcrnn(h), **_rprnn(r)}


def _psn(a: dict) -> dict:
    shape = (a["frames"], a["in_channels"], a["size"], a["size"])
    return {"sparse": shape, "frames": shape}


def _cropnet(a: dict) -> dict:
    if a["cgpo"]:
        return {"cgpo": (cropnet.N_SUB, a["in_channels"], a["size"], a["size"])}
    side = a["whole_size"] or 2 * a["size"]
    return {"image": (a["in_channels"], side, side)}


def _region_cnn(a: dict) -> dict:
    size = a["size"] or (local_regions._DEFAULT_SIZES if a["profile_sizes"] == "default"
                         else local_regions.REGION_SIZES)[a["region"]]
    channels = a.get("in_channels", defaults(local_regions.RegionCNN)["in_channels"])
    return {a["region"]: (channels, *size)}


def _local_regions(a: dict) -> dict:
    sizes = {**local_regions.REGION_SIZES, **(a["sizes"] or {})}
    return {r: (a["frames"], a["in_channels"], *sizes[r]) for r in a["regions"]}


for _name, _fn in (("c3d_model_a", c3d.model_a), ("c3d_split", c3d.split_model), ("c3d_model_b", c3d.model_b),
                   ("c3d_model_c", c3d.model_c)):
    describe(_name, pipeline="c3d", spec=_c3d, signature=_fn)
describe("dlhn_hcrnn", pipeline="dlhn", spec=_hcrnn, signature=dlhn.HCRNN)
describe("dlhn_rprnn", pipeline="dlhn", spec=_rprnn, signature=dlhn.RPRNN)
describe("dlhn", pipeline="dlhn", spec=_dlhn)
describe("psn", pipeline="psn", spec=_psn, signature=psn.PSN)
describe("cropnet", pipeline="cropnet", spec=_cropnet, signature=cropnet.CropNet)
describe("localregions_cnn", pipeline="localregions", spec=_region_cnn)
describe("localregions", pipeline="localregions", spec=_local_regions, signature=local_regions.LocalRegionsNet)
describe("localregions_2stage", pipeline="localregions", spec=_local_regions,
         signature=local_regions_stages.TwoStageLocalRegions)

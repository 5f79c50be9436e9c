"""Per-paper input pipelines on the small synthetic set: shapes, model forward passes, known answers from the
generator's ground truth (where and when it moved pixels), caching and exclusions."""
from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
import torch

from melib import datasets, models, synth
from melib.datasets import frame_number
from melib.errors import ConfigError
from melib.experiments.common import model_pipeline
from melib.preprocess import lbp as lbp_mod
from melib.preprocess import pipelines as P
from melib.preprocess.face import apply_transform, face_track
from melib.preprocess.temporal import apex_position

FAST_RPCA = {"rpca_tol": 1e-5}  # fewer ALM iterations; the defaults (1e-7) are the paper-faithful ones


@pytest.fixture(scope="module", autouse=True)
def _module_cache(tmp_path_factory):
    """One cache for the module (pipelines reuse each other's face tracks); tests that count calls use their own."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MELIB_CACHE", str(tmp_path_factory.mktemp("pipelines_cache")))
        yield


@pytest.fixture(scope="module")
def samples(synth_small):
    return datasets.load("synth", synth_small)


@pytest.fixture(scope="module")
def two_per_dataset(samples):
    """The first two clips of each synthetic layout (a fixed, not hand-picked, subset)."""
    return pd.concat([g.head(2) for _, g in samples.groupby("dataset", sort=True)])


@pytest.fixture(scope="module")
def truth(synth_small):
    """Ground truth rows keyed by the clip folder."""
    root = Path(synth_small)
    out = {}
    for layout in ("casme2", "samm", "smic"):
        gt = synth.read_ground_truth(root / layout)
        for _, g in gt.iterrows():
            out[(root / layout / g["folder"]).resolve()] = g
    return out


def _truth_of(row, truth):
    return truth[Path(row["frames"][0]).parent.resolve()]


def _apex(row, truth) -> int:
    """Position in the row's frames of the generator's apex (SMIC's table has no apex; the loader guesses)."""
    return int(_truth_of(row, truth)["apex"]) - frame_number(row["frames"][0])


def _moved_masks(row, truth, transform, side: int, radius: int):
    """Masks (side x side) of the aligned face: near landmarks the generator moved by > 1 px between onset and
    apex, and far from all of them (elsewhere)."""
    g = _truth_of(row, truth)
    lm = g["landmarks"]
    first = int(g["first_frame"])
    disp = np.linalg.norm(lm[int(g["apex"]) - first] - lm[int(g["onset"]) - first], axis=1)
    pts = apply_transform(transform, lm[frame_number(row["frames"][0]) - first])
    moved = np.zeros((side, side), np.uint8)
    for p in pts[disp > 1.0]:
        cv2.circle(moved, (int(round(p[0])), int(round(p[1]))), radius, 1, -1)
    near = cv2.dilate(moved, np.ones((2 * radius + 1,) * 2, np.uint8))
    return moved.astype(bool), ~near.astype(bool)


# --- shapes ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("paper,params,expected", [
    ("dlhn", {"frames": 8, **FAST_RPCA}, {"eyebrows": (8, 1, 33, 112), "eyes": (8, 1, 20, 112),
                                           "nose": (8, 1, 32, 56), "mouth": (8, 1, 38, 56),
                                           "sparse": (8, 1, 112, 112)}),
    ("psn", {"rpca_on": "sampled", **FAST_RPCA}, {"sparse": (16, 1, 112, 112), "frames": (16, 1, 112, 112)}),
    ("c3d", {}, {"clip": (30, 1, 128, 128)}),  # casme2 + samm: a combined set, 30 frames
    ("cropnet", {}, {"cgpo": (10, 3, 160, 160)}),
    ("cropnet", {"cgpo": False, "kind": "rrs"}, {"image": (3, 320, 320)}),
    ("cropnet", {"kind": "farneback", "out_size": 32}, {"cgpo": (10, 3, 32, 32)}),
    ("localregions", {}, {"eye_left": (16, 3, 80, 100), "eye_right": (16, 3, 80, 100), "nose": (16, 3, 80, 120),
                          "cheek_right": (16, 3, 60, 60), "cheek_left": (16, 3, 60, 60),
                          "mouth": (16, 3, 60, 160)}),
    ("lbp", {}, {"features": (25 * 3 * 6,)}),
    ("lbp", {"kind": "sip"}, {"features": (25 * 20,)}),
])
def test_shapes_dtypes_and_ranges(samples, paper, params, expected):
    rows = samples[samples["dataset"].isin(["casme2", "samm"])].iloc[[0, -1]]
    inputs, kept, exclusions = P.build_inputs(rows, paper, progress=False, **params)
    assert exclusions == [] and list(kept) == list(rows.index)
    assert {k: v.shape[1:] for k, v in inputs.items()} == expected
    for k, v in inputs.items():
        assert v.dtype == np.float32 and v.shape[0] == 2 and np.isfinite(v).all()
        if k != "sparse":  # images in [0, 1]; E is signed
            assert v.min() >= 0.0 and v.max() <= 1.0 and v.max() > 0.2, k
    if paper == "lbp":  # each block's XY/XT/YT (or SIP) histograms sum to 1
        per_block = 3 if params.get("kind", "top") == "top" else 2
        np.testing.assert_allclose(inputs["features"].sum(1), 25 * per_block, rtol=1e-5)


def test_lbp_is_the_lbp_module_on_the_aligned_grey_face(samples):
    row = samples.iloc[0]
    face = face_track(row, size=P.LBP_FACE, gray=True)["frames"]
    np.testing.assert_allclose(P.lbp_features(row), lbp_mod.lbp_top(face), rtol=1e-6)
    np.testing.assert_allclose(P.lbp_features(row, kind="sip", blocks=(2, 2)), lbp_mod.lbp_sip(face, blocks=(2, 2)),
                               rtol=1e-6)


def test_bad_options_raise_config_errors(samples):
    row = samples.iloc[0]
    with pytest.raises(ConfigError):
        P.build_inputs(samples.head(1), "dlhnn", progress=False)
    with pytest.raises(ConfigError):
        P.cropnet_inputs(row, kind="sobel")
    with pytest.raises(ConfigError):
        P.psn_inputs(row, rpca_on="everything")
    with pytest.raises(ConfigError):
        P.local_regions_inputs(row, regions=("forehead",))
    with pytest.raises(ConfigError):  # DLHN's 112-wide ROIs do not fit a smaller face
        P.dlhn_inputs(row, size=56)
    with pytest.raises(ConfigError):
        P.spec_params("resnet50", {"x": (3, 224, 224)})
    with pytest.raises(ConfigError):  # LBP features feed no model input spec
        P.spec_params("lbp", {"x": (3, 224, 224)})


def test_spec_params_follow_the_model_spec():
    rprnn = P.spec_params("dlhn", {"sparse": (8, 1, 28, 28)})
    assert rprnn == {"frames": 8, "rois": False, "sparse": True, "sparse_size": (28, 28)}
    assert P.spec_params("c3d", {"clip": (26, 1, 64, 64)}) == {"window": 26, "size": 64}
    assert P.spec_params("cropnet", {"image": (3, 64, 64)}) == {"cgpo": False, "whole_size": 64}
    stage1 = P.spec_params("localregions", {"nose": (3, 40, 60)})  # single frames: stage 1's region CNN
    assert stage1 == {"regions": ("nose",), "sizes": {"nose": (40, 60)}}
    name, lr = model_pipeline("localregions", "default", sizes={"mouth": (12, 32)})
    assert name == "localregions" and lr["sizes"]["mouth"] == (12, 32)
    assert model_pipeline("dlhn_hcrnn", "paper")[1]["sparse"] is False


def test_preprocess_imports_nothing_of_the_models():
    """The pipelines read input specs as data (melib.models.input_spec); no preprocess module imports
    melib.models (checked in a fresh interpreter: importing every preprocess module loads no melib.models)."""
    import subprocess
    import sys

    code = ("import pkgutil, importlib, sys, melib.preprocess as pp\n"
            "[importlib.import_module('melib.preprocess.' + m.name) for m in pkgutil.iter_modules(pp.__path__)]\n"
            "print(sorted(m for m in sys.modules if m.startswith('melib.models')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --- every model eats its pipeline's output ---------------------------------------------------------------

@pytest.mark.parametrize("model,profile,extra", [
    ("dlhn", "default", FAST_RPCA),
    ("dlhn_hcrnn", "default", {}),
    ("psn", "default", {"rpca_on": "sampled", **FAST_RPCA}),  # the 150-frame RPCA is covered below, at 56 x 56
    ("c3d_model_a", "paper", {}),
    ("c3d_split", "default", {}),
    ("c3d_model_b", "paper", {}),
    ("c3d_model_c", "default", {}),
    ("cropnet", "paper", {}),
    ("cropnet", "default", {}),
    ("localregions", "paper", {}),
    ("localregions", "default", {}),
])
def test_models_forward_on_pipeline_output(samples, model, profile, extra):
    torch.manual_seed(0)
    net = models.build(model, profile=profile).eval()
    paper, params = model_pipeline(model, profile)
    inputs, kept, exclusions = P.build_inputs(samples.iloc[[0, 30]], paper, progress=False, **params, **extra)
    assert len(kept) == 2 and not exclusions
    for k, shape in net.input_spec.items():
        assert inputs[k].shape == (2, *shape), k
    with torch.no_grad():
        logits = net({k: torch.from_numpy(v) for k, v in inputs.items()})
    assert logits.shape[0] == 2 and torch.isfinite(logits).all()


def test_cropnet_without_cgpo_feeds_the_ablation_model(samples):
    net = models.build("cropnet", profile="default", cgpo=False).eval()
    paper, params = model_pipeline("cropnet", "default", cgpo=False)
    assert params["cgpo"] is False
    inputs, _, _ = P.build_inputs(samples.iloc[[1]], paper, progress=False, **params)
    assert inputs["image"].shape[1:] == net.input_spec["image"]
    with torch.no_grad():
        logits = net({"image": torch.from_numpy(inputs["image"])})
    assert logits.shape[0] == 1 and torch.isfinite(logits).all()


# --- known answers ----------------------------------------------------------------------------------------

def _sparse_contrast(E: np.ndarray, t: int, moved: np.ndarray, elsewhere: np.ndarray) -> float:
    """Mean E^2 near the moved landmarks over mean E^2 elsewhere, in frame t."""
    e = E[t, 0] ** 2
    return float(e[moved].mean() / e[elsewhere].mean())


def test_dlhn_sparse_part_lies_on_the_moved_pixels_at_apex(two_per_dataset, truth):
    ratios = []
    for _, row in two_per_dataset.iterrows():
        E = P.dlhn_inputs(row, rois=False, **FAST_RPCA)["sparse"]
        T = len(row["frames"])
        t = int(round(_apex(row, truth) * (len(E) - 1) / (T - 1)))  # the resampled frame nearest the apex
        moved, elsewhere = _moved_masks(row, truth, face_track(row, size=(112, 112), gray=True)["transform"], 112, 5)
        ratios.append(_sparse_contrast(E, t, moved, elsewhere))
    assert min(ratios) > 1.0 and np.median(ratios) > 3.0, ratios


@pytest.mark.parametrize("rpca_on,side", [("sampled", 112), ("normalised", 56)])
def test_psn_sparse_part_lies_on_the_moved_pixels_at_apex(two_per_dataset, truth, rpca_on, side):
    """Both readings of PSN 3.2; the 150-frame one at 56 x 56 to keep its RPCA quick. Measured on these six
    clips: sampled 6.9-91 (all > 1), normalised 0.25-10^4 (one clip < 1: a TIM-normalised short clip has rank
    <= its original length, so RPCA has little left to call sparse)."""
    ratios = []
    keep = P.psn_indices()
    for _, row in two_per_dataset.iterrows():
        E = P.psn_inputs(row, size=side, rpca_on=rpca_on, **FAST_RPCA)["sparse"]
        T = len(row["frames"])
        t = int(np.argmin(np.abs(keep - _apex(row, truth) * (P.PSN_NORMALISED - 1) / (T - 1))))
        transform = face_track(row, size=(side, side), gray=True)["transform"]
        moved, elsewhere = _moved_masks(row, truth, transform, side, 5 * side // 112)
        ratios.append(_sparse_contrast(E, t, moved, elsewhere))
    assert np.median(ratios) > 3.0 and np.mean(np.array(ratios) > 1) >= 0.8, ratios
    if rpca_on == "sampled":
        assert min(ratios) > 1.0, ratios


def test_cgpo_of_ars_is_brighter_where_the_face_moved(two_per_dataset, truth):
    ratios = []
    for _, row in two_per_dataset.iterrows():
        z0 = P.cropnet_inputs(row)["cgpo"][0].mean(0)  # the whole 320 image at 160 (CGPO's coarse level)
        moved, elsewhere = _moved_masks(row, truth, face_track(row, size=(320, 320))["transform"], 320, 12)
        m, e = (cv2.resize(x.astype(np.uint8), (160, 160), interpolation=cv2.INTER_NEAREST).astype(bool)
                for x in (moved, elsewhere))
        ratios.append(float(z0[m].mean() / z0[e].mean()))
    assert min(ratios) > 1.0 and np.median(ratios) > 1.5, ratios


def test_c3d_window_is_centred_on_the_apex(samples, truth):
    row = samples[samples["dataset"] == "casme2"].iloc[0]
    face = face_track(row, size=(128, 128), gray=True)["frames"] / np.float32(255)
    apex = apex_position(row)
    assert apex == _apex(row, truth)  # CASME II-like rows carry the true apex
    clip = P.c3d_inputs(row, window=5)["clip"][:, 0]
    np.testing.assert_allclose(clip, face[np.clip(np.arange(apex - 2, apex + 3), 0, len(face) - 1)], atol=1e-6)
    long = P.c3d_inputs(row)["clip"][:, 0]  # window None: 36 for CASME II, ends repeated
    assert long.shape[0] == 36
    np.testing.assert_allclose(long[18], face[apex], atol=1e-6)
    np.testing.assert_allclose(long[0], face[0], atol=1e-6)
    np.testing.assert_allclose(long[-1], face[-1], atol=1e-6)


def test_c3d_onset_difference_option(samples):
    """Off by default (the paper's frames); on, every frame minus the onset frame, so the onset is all zero
    and the apex keeps only what moved."""
    row = samples[samples["dataset"] == "casme2"].iloc[0]
    face = face_track(row, size=(128, 128), gray=True)["frames"] / np.float32(255)
    plain = P.c3d_inputs(row, window=5)["clip"][:, 0]
    diff = P.c3d_inputs(row, window=5, onset_difference=True)["clip"][:, 0]
    np.testing.assert_allclose(diff, plain - face[0], atol=1e-6)
    np.testing.assert_allclose(P.c3d_inputs(row, window=36, onset_difference=True)["clip"][0, 0], 0, atol=1e-6)
    assert np.abs(diff).mean() < 0.1 * plain.mean() and np.abs(diff).max() > 0.05


def test_scale_clip_one_factor_per_clip():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 0.01, (4, 5, 6)).astype(np.float32), rng.normal(0, 0.03, (4, 3)).astype(np.float32)
    a[0] = 0
    out = P.scale_clip({"a": a, "b": b}, "clip_sd")
    assert np.concatenate([out["a"].ravel(), out["b"].ravel()]).std() == pytest.approx(1, rel=1e-5)
    f = out["b"] / b
    np.testing.assert_allclose(f, f.flat[0], rtol=1e-5)
    np.testing.assert_allclose(out["a"][1:] / a[1:], f.flat[0], rtol=1e-5)  # one factor for both arrays
    assert (out["a"][0] == 0).all() and out["a"].dtype == np.float32
    assert P.scale_clip(a, None) is a
    np.testing.assert_array_equal(P.scale_clip(np.zeros(3, np.float32), "clip_sd"), 0)
    with pytest.raises(ConfigError, match="scale"):
        P.scale_clip(a, "unit")


def test_psn_sparse_part_is_scaled_per_clip_by_default(samples):
    """PSN's E as the spatial sub-network sees it: unit sd per clip by default, RPCA's own E on request, the
    same up to that one factor."""
    row = samples.iloc[0]
    kw = dict(size=56, rpca_on="sampled", **FAST_RPCA)
    scaled = P.psn_inputs(row, **kw)["sparse"]
    raw = P.psn_inputs(row, sparse_scale=None, **kw)["sparse"]
    assert scaled.std() == pytest.approx(1, rel=1e-4) and raw.std() < 0.1
    np.testing.assert_allclose(scaled, raw / raw.std(), rtol=1e-4, atol=1e-5)


def test_local_regions_onset_difference_and_scale(samples):
    row = samples[samples["dataset"] == "casme2"].iloc[0]
    n = len(row["frames"])
    plain = P.local_regions_inputs(row, frames=20)
    diff = P.local_regions_inputs(row, frames=20, onset_difference=True)
    scaled = P.local_regions_inputs(row, frames=20, onset_difference=True, scale="clip_sd")
    for r in P.LOCALREGIONS_REGIONS:
        assert (diff[r][0] == 0).all() and (diff[r][n:] == 0).all()  # the onset and the zero padding
        np.testing.assert_allclose(diff[r][:n], plain[r][:n] - plain[r][:1], atol=2e-6)
    joint = np.concatenate([v.ravel() for v in scaled.values()])
    assert joint.std() == pytest.approx(1, rel=1e-4)
    f = scaled["mouth"][n // 2].std() / diff["mouth"][n // 2].std()
    assert all(scaled[r][1:n].std() / diff[r][1:n].std() == pytest.approx(f, rel=1e-3) for r in scaled)


def test_dlhn_onset_difference_and_scale_touch_the_rois_only(samples):
    row = samples[samples["dataset"] == "casme2"].iloc[0]
    plain = P.dlhn_inputs(row, frames=8, **FAST_RPCA)
    diff = P.dlhn_inputs(row, frames=8, onset_difference=True, scale="clip_sd", **FAST_RPCA)
    rois = np.concatenate([diff[r].ravel() for r in P.DLHN_ROIS])
    assert rois.std() == pytest.approx(1, rel=1e-4)
    for r in P.DLHN_ROIS:
        assert (diff[r][0] == 0).all()  # the onset
        d = plain[r] - plain[r][:1]
        np.testing.assert_allclose(diff[r] * float(np.concatenate([(plain[q] - plain[q][:1]).ravel()
                                                                   for q in P.DLHN_ROIS]).std()), d, atol=1e-5)
    np.testing.assert_array_equal(diff["sparse"], plain["sparse"])  # E as before


def test_c3d_window_per_dataset():
    assert P.c3d_window("casme2") == 36 and P.c3d_window(["smic"]) == 26
    assert P.c3d_window(["casme2", "smic"]) == 30 and P.c3d_window("samm") == 30


def test_psn_indices_and_local_regions_lengths():
    np.testing.assert_array_equal(P.psn_indices(), [*range(0, 141, 10), 149])  # frames 1, 11, ..., 141, 150
    np.testing.assert_array_equal(P.psn_indices(5), [0, 37, 74, 112, 149])
    clip = np.arange(1, 13, dtype=np.uint8)[:, None, None] * np.ones((1, 2, 2), np.uint8)
    padded = P.fit_length(clip, 16)
    np.testing.assert_array_equal(padded[:12], clip)
    assert (padded[12:] == 0).all()
    np.testing.assert_array_equal(P.fit_length(clip, 4)[:, 0, 0], [1, 5, 8, 12])
    assert P.fit_length(clip, 23, "resample").shape[0] == 23


# --- caching and exclusions -------------------------------------------------------------------------------

def test_second_build_is_a_cache_hit(samples, monkeypatch, tmp_path):
    monkeypatch.setenv("MELIB_CACHE", str(tmp_path / "cache"))
    calls = []
    real = P.face_track

    def counting(row, **kw):
        calls.append(row["clip"])
        return real(row, **kw)

    monkeypatch.setattr(P, "face_track", counting)
    rows = samples.iloc[[2, 23, 44]]
    # n_jobs=1: in this process, where the counting patch is (worker processes would not see it)
    first, kept1, _ = P.build_inputs(rows, "c3d", progress=False, size=32, n_jobs=1)
    assert len(calls) == 3
    second, kept2, _ = P.build_inputs(rows, "c3d", progress=False, size=32, n_jobs=1)
    assert len(calls) == 3  # nothing recomputed
    assert list(kept1) == list(kept2)
    np.testing.assert_array_equal(first["clip"], second["clip"])
    P.build_inputs(rows, "c3d", progress=False, size=48, n_jobs=1)  # another parameter: recomputed
    assert len(calls) == 6


def test_the_device_reaches_rpca_and_leaves_the_cache_key_alone(samples, monkeypatch, tmp_path):
    """``build_inputs(device=...)`` runs RPCA on that device (a torch tensor there); the cache entry is the same
    with the device given or not, so a second pass with another device is all hits."""
    monkeypatch.setenv("MELIB_CACHE", str(tmp_path / "cache"))
    seen, calls = [], []
    real_rpca, real_face = P.rpca_frames, P.face_track
    monkeypatch.setattr(P, "rpca_frames", lambda x, **kw: seen.append(str(getattr(x, "device", "numpy")))
                        or real_rpca(x, **kw))
    monkeypatch.setattr(P, "face_track", lambda row, **kw: calls.append(row["clip"]) or real_face(row, **kw))
    rows = samples.iloc[[3, 24]]
    kw = dict(progress=False, frames=4, out_size=16, rpca_on="sampled", n_jobs=1, **FAST_RPCA)  # patches: in-process
    on_cpu, _, _ = P.build_inputs(rows, "psn", device="cpu", **kw)
    assert seen == ["cpu", "cpu"] and len(calls) == 2
    plain, _, _ = P.build_inputs(rows, "psn", **kw)  # no device given: the same entries
    assert len(calls) == 2 and len(seen) == 2
    np.testing.assert_array_equal(on_cpu["sparse"], plain["sparse"])
    assert P.current_device() is None  # the device was set for the batch only
    with P.on_device("auto"):
        assert P.current_device() == ("cuda" if torch.cuda.is_available() else "cpu")


@pytest.mark.parametrize("device", ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(
    not torch.cuda.is_available(), reason="no CUDA device here: the GPU path is untested on this machine"))])
def test_rpca_on_a_device_equals_the_numpy_path(samples, device):
    """E from the tensor path on ``device`` equals the NumPy path's within 1e-6 relative (of E's scale)."""
    row = samples.iloc[5]
    clip = P._unit(face_track(row, size=(48, 48), gray=True)["frames"])
    ref = P._sparse(clip, None, tol=1e-6)
    with P.on_device(device):
        got = P._sparse(clip, None, tol=1e-6)
    assert got.dtype == ref.dtype and got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-6 * np.abs(ref).max())


def test_clip_without_a_face_is_an_exclusion(samples, monkeypatch, tmp_path):
    monkeypatch.setenv("MELIB_CACHE", str(tmp_path / "cache"))
    good = samples.iloc[[0, 1]]
    bad = samples.iloc[1].copy()
    folder = tmp_path / "noface"
    folder.mkdir()
    rng = np.random.default_rng(0)
    frames = []
    for f in bad["frames"]:
        dst = folder / Path(f).name
        shutil.copy(f, dst)
        h, w = cv2.imread(str(dst)).shape[:2]
        cv2.imwrite(str(dst), rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        frames.append(str(dst))
    bad["frames"] = frames
    table = pd.DataFrame([good.iloc[0], bad, good.iloc[1]], index=[10, 11, 12])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        inputs, kept, exclusions = P.build_inputs(table, "c3d", progress=False, size=32)
    assert list(kept) == [10, 12] and inputs["clip"].shape[0] == 2
    assert len(exclusions) == 1
    ex = exclusions[0]
    assert ex["clip"] == bad["clip"] and ex["error"] == "FaceNotFound" and "face" in ex["reason"]
    assert Path(ex["path"]) == Path(frames[0])
    # all rows failing: empty result, every row counted
    inputs, kept, exclusions = P.build_inputs(table.loc[[11]], "cropnet", progress=False)
    assert inputs == {} and len(kept) == 0 and len(exclusions) == 1


@pytest.mark.parametrize("paper", sorted(P.PIPELINES))
def test_a_clip_too_short_for_the_pipeline_is_an_exclusion(samples, paper, monkeypatch, tmp_path):
    """Issue 20, case 5: a clip folder of one frame (or two) became a full-length DLHN, PSN, C3D or LocalRegions
    input (resampled, padded or windowed); every pipeline now leaves it out with the reason, before any work."""
    monkeypatch.setenv("MELIB_CACHE", str(tmp_path / "cache"))
    rows = []
    for n in (1, 2):
        row = samples.iloc[0].copy()
        row["frames"] = list(row["frames"][:n])
        row["onset"], row["offset"] = frame_number(row["frames"][0]), frame_number(row["frames"][-1])
        row["apex"], row["n_frames"] = row["onset"], n
        rows.append(row)
    table = pd.DataFrame(rows, index=[1, 2])
    params = {"frames": 10} if paper == "lbp" else {}  # LBP resampling a short clip to its 9 frames
    inputs, kept, exclusions = P.build_inputs(table, paper, progress=False, n_jobs=1, **params)
    assert inputs == {} and len(kept) == 0
    assert [e["clip"] for e in exclusions] == [table.loc[1, "clip"]] * 2
    for e, n in zip(exclusions, (1, 2)):
        assert "at least 3 frames" in e["reason"] and f"found {n} frame(s)" in e["reason"], e["reason"]
        assert e["error"] == "DataError" and Path(e["path"]) == Path(table.loc[n, "frames"][0])

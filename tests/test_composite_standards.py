"""STSTNet and OFF-ApexNet (the MEGC2019 composite's standard methods): registry, shapes and parameter counts,
the two-stream wiring, and their onset -> apex flow pipeline on the small synthetic set (shapes, the apex it
ends at, strain where the generator moved the face)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from melib import datasets, published, synth
from melib.datasets import frame_number
from melib.errors import ConfigError
from melib.experiments.common import model_pipeline
from melib.models import build, example_input, input_spec, n_params, paper_training, pipeline_of
from melib.models import off_apexnet, ststnet
from melib.preprocess import flow_inputs as F
from melib.preprocess.face import apply_transform, face_track
from melib.preprocess.registry import pipeline, spec_params

torch.set_num_threads(1)
NAMES = ("ststnet", "off_apexnet")


# --- models -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("profile", ("paper", "default"))
def test_forward_shapes_and_registry_specs(name, profile):
    torch.manual_seed(0)
    m = build(name, profile).eval()
    assert m.input_spec == input_spec(name, profile) and pipeline_of(name) == "onset_apex_flow"
    with torch.no_grad():
        out = m(example_input(m, batch=2))
    assert out.shape == (2, 3) and torch.isfinite(out).all()
    assert build(name, profile, n_classes=5)(example_input(m, batch=2)).shape == (2, 5)


def test_paper_input_specs():
    assert build("ststnet").input_spec == ststnet.INPUT_SPEC == {"flow": (3, 28, 28)}
    assert build("off_apexnet").input_spec == off_apexnet.INPUT_SPEC == {"flow": (2, 28, 28)}
    with pytest.raises(ConfigError, match="expected"):
        build("off_apexnet")(torch.zeros(1, 3, 28, 28))


def test_ststnet_matches_the_authors_layers():
    """Hand count of the authors' code: three 3x3 convolutions on 3 channels (3, 5, 8 filters: 84 + 140 + 224),
    their batch norms (2 x 16), one FC from 16 x 5 x 5 = 400 features to 3 classes (1,203): 1,683."""
    m = build("ststnet")
    assert m.classifier.in_features == 400
    assert n_params(m) == 84 + 140 + 224 + 32 + 1203
    assert n_params(build("ststnet", size=40)) == 84 + 140 + 224 + 32 + 16 * 7 * 7 * 3 + 3  # 42 -> 14 -> 7


def test_off_apexnet_parameter_count_and_profiles():
    """Two streams (5x5 convs: 6 x 25 + 6 and 16 x 150 + 16 each), 2 x 16 x 7 x 7 = 1,568 features, FC 1,024,
    FC 1,024, 3 classes: 2,664,475, the 2.66 M reported for OFF-ApexNet."""
    paper = n_params(build("off_apexnet"))
    assert paper == 2 * (156 + 2416) + (1568 * 1024 + 1024) + (1024 * 1024 + 1024) + (1024 * 3 + 3)
    assert round(paper / 1e6, 2) == off_apexnet.PAPER_PARAMS / 1e6
    assert n_params(build("off_apexnet", "default")) < paper / 5


def test_off_apexnet_streams_read_one_flow_component_each():
    """Changing v leaves the u stream's features alone and changes the v stream's (and the other way round)."""
    torch.manual_seed(0)
    m = build("off_apexnet").eval()
    x = example_input(m, batch=2)
    y = x.clone()
    y[:, 1] = torch.rand_like(y[:, 1])
    with torch.no_grad():
        u, v = (m.streams[i](x[:, i:i + 1]) for i in range(2))
        u2, v2 = (m.streams[i](y[:, i:i + 1]) for i in range(2))
        assert torch.equal(u, u2) and not torch.equal(v, v2)
        assert not torch.equal(m(x), m(y))


def test_recipes_are_registered():
    assert paper_training("ststnet")["lr"] == 5e-5 and paper_training("ststnet")["batch_size"] == 256
    assert "optimizer" not in paper_training("off_apexnet")  # not read from the paper: the trainer's defaults


def test_published_headlines():
    h = published.headlines()
    st = h[h.paper == "STSTNet"].set_index("metric")["value"]
    assert st["uar"] == 0.7605 and st["uf1"] == 0.7353
    ab = published.table("STSTNet", "Abstract")
    assert dict(zip(ab[ab.setting == "v1 abstract"].dataset, ab[ab.setting == "v1 abstract"].value)) == \
        {"casme2+samm+smic": 0.7605, "smic": 0.7013, "casme2": 0.8686, "samm": 0.681}
    off = h[h.paper == "OFF-ApexNet"].set_index("metric")["value"]
    assert off["accuracy"] == 0.746 and off["f1"] == 0.7104


# --- the pipeline ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module", autouse=True)
def _module_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MELIB_CACHE", str(tmp_path_factory.mktemp("flow_cache")))
        yield


@pytest.fixture(scope="module")
def samples(synth_small):
    return datasets.load("synth", synth_small)


def test_spec_params_and_model_pipeline():
    assert spec_params("onset_apex_flow", {"flow": (3, 28, 28)}) == {"channels": 3, "size": 28}
    assert model_pipeline("off_apexnet", "paper") == ("onset_apex_flow", {"channels": 2, "size": 28})
    assert pipeline("onset_apex_flow") is F.flow_inputs
    with pytest.raises(ConfigError, match="square"):
        spec_params("onset_apex_flow", {"flow": (3, 28, 32)})


def test_pipeline_shapes_ranges_and_models_eat_it(samples):
    row = samples.iloc[0]
    three = F.flow_inputs(row)["flow"]
    two = F.flow_inputs(row, channels=2)["flow"]
    assert three.shape == (3, 28, 28) and two.shape == (2, 28, 28) and three.dtype == np.float32
    assert three.min() >= 0 and three.max() <= 1 and np.allclose(three[:2], two)
    assert (three.std(axis=(1, 2)) > 0).all()
    full = F.flow_inputs(row, size=128)["flow"]  # the face's side: min-max scaled, not shrunk
    assert np.allclose(full.min(axis=(1, 2)), 0) and np.allclose(full.max(axis=(1, 2)), 1)
    for name, x in (("ststnet", three), ("off_apexnet", two)):
        assert build(name).eval()(torch.from_numpy(x)[None]).shape == (1, 3)
    with pytest.raises(ConfigError, match="channels"):
        F.flow_inputs(row, channels=4)


def test_the_flow_ends_at_the_apex_or_the_middle_frame_for_a_placeholder(samples):
    row = samples.iloc[0].copy()
    n = len(row["frames"])
    assert F.flow_apex(row, n) == int(row["apex"]) - frame_number(row["frames"][0])
    row["apex_placeholder"] = True
    assert F.flow_apex(row, n) == (n - 1) // 2


def test_strain_is_larger_where_the_generator_moved_the_face(samples, synth_small):
    """Known answer: near the landmarks the generator moved by more than 1 px between onset and apex, the
    optical strain (computed on the 128 x 128 face, not shrunk) is larger than far from every landmark."""
    root = Path(synth_small)
    truth = {}
    for layout in ("casme2", "samm", "smic"):
        for _, g in synth.read_ground_truth(root / layout).iterrows():
            truth[(root / layout / g["folder"]).resolve()] = g
    ratios = []
    for _, row in samples.groupby("dataset", sort=True).head(2).iterrows():
        g = truth[Path(row["frames"][0]).parent.resolve()]
        lm, first = g["landmarks"], int(g["first_frame"])
        disp = np.linalg.norm(lm[int(g["apex"]) - first] - lm[int(g["onset"]) - first], axis=1)
        pts = apply_transform(face_track(row, size=(128, 128), gray=True)["transform"],
                              lm[frame_number(row["frames"][0]) - first])
        moved = np.zeros((128, 128), np.uint8)
        for p in pts[disp > 1.0]:
            cv2.circle(moved, (int(round(p[0])), int(round(p[1]))), 6, 1, -1)
        elsewhere = ~cv2.dilate(moved, np.ones((13, 13), np.uint8)).astype(bool)
        strain = F.flow_inputs(row, size=128)["flow"][2]
        ratios.append(float(strain[moved.astype(bool)].mean() / strain[elsewhere].mean()))
    assert min(ratios) > 1.0 and np.median(ratios) > 1.5, ratios


# The known answer of both (three seeds each, ledger records) is tests/test_known_answer.py's.

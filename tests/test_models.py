"""melib.models: registry, the papers' stated shapes and parameter counts, equations against hand values."""
import math

import numpy as np
import pytest
import torch

from melib.errors import ConfigError
from melib.models import build, example_input, input_spec, n_params, names, paper_training, pipeline_of, profile_kwargs
from melib.models import c3d, cropnet, dlhn, local_regions, psn

torch.set_num_threads(1)

EXPECTED = {"c3d_model_a", "c3d_split", "c3d_model_b", "c3d_model_c", "dlhn", "dlhn_hcrnn", "dlhn_rprnn",
            "psn", "cropnet", "localregions", "localregions_cnn", "localregions_2stage", "ststnet", "off_apexnet"}
PAPER_K = {"c3d_model_a": 3, "c3d_split": 3, "c3d_model_b": 3, "c3d_model_c": 3, "dlhn": 4, "dlhn_hcrnn": 4,
           "dlhn_rprnn": 4, "psn": 4, "cropnet": 3, "localregions": 3, "localregions_cnn": 3,
           "localregions_2stage": 3, "ststnet": 3, "off_apexnet": 3}


def test_registry_lists_every_model_and_rejects_unknown_names():
    assert set(names()) == EXPECTED
    with pytest.raises(ConfigError, match="unknown model"):
        build("alexnet")
    with pytest.raises(ConfigError, match="unknown profile"):
        build("psn", profile="tiny")
    assert profile_kwargs("c3d_model_a", "default")["size"] < profile_kwargs("c3d_model_a", "paper")["size"]
    assert paper_training("c3d_model_a") == {"optimizer": "sgd", "lr": 1e-3, "momentum": 0.9,
                                             "loss": "cross_entropy", "batch_size": 4, "epochs": 100}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_paper_profile_forward_shape(name):
    torch.manual_seed(0)
    m = build(name).eval()
    with torch.no_grad():
        out = m(example_input(m, batch=1))
    assert out.shape == (1, PAPER_K[name])
    assert torch.isfinite(out).all()


# build keyword arguments that change a model's input (the ablations and the paper profile's windows)
SPEC_CASES = [("cropnet", "default", {"cgpo": False}), ("cropnet", "paper", {"cgpo": False, "whole_size": 200}),
              ("localregions", "default", {"regions": ("face",)}), ("localregions_cnn", "paper", {"region": "nose"}),
              ("localregions_2stage", "default", {"sizes": {"mouth": (12, 32)}}), ("c3d_model_a", "paper", {"frames": 26}),
              ("psn", "default", {"frames": 5}), ("dlhn", "default", {"n_classes": 3})]


@pytest.mark.parametrize("name,profile,kw", [(n, p, {}) for n in sorted(EXPECTED) for p in ("paper", "default")]
                         + SPEC_CASES)
def test_registry_specs_equal_the_built_models(name, profile, kw):
    """``input_spec`` (data the registry holds: melib.models.specs) is what the built network asks for."""
    built = {k: tuple(v) for k, v in build(name, profile, **kw).input_spec.items()}
    assert input_spec(name, profile, **kw) == built
    assert pipeline_of(name) in {"dlhn", "psn", "c3d", "cropnet", "localregions", "onset_apex_flow"}


def test_module_input_specs_are_the_paper_profiles():
    assert build("c3d_model_a").input_spec == c3d.INPUT_SPEC
    assert build("dlhn").input_spec == dlhn.INPUT_SPEC
    assert build("psn").input_spec == psn.INPUT_SPEC
    assert build("cropnet").input_spec == cropnet.INPUT_SPEC
    assert build("localregions").input_spec == local_regions.INPUT_SPEC


def test_bad_inputs_raise_config_errors():
    m = build("c3d_model_a", profile="default")
    with pytest.raises(ConfigError, match="expected"):
        m(torch.zeros(1, 3, 1, 36, 36))
    p = build("psn", profile="default")
    with pytest.raises(ConfigError, match="missing"):
        p({"sparse": torch.zeros(1, *p.input_spec["sparse"])})
    with pytest.raises(ConfigError, match="dict"):
        p(torch.zeros(1, *p.input_spec["sparse"]))


# ------------------------------------------------------------------ C3D


def test_c3d_model_a_matches_table_2():
    m = build("c3d_model_a")
    assert m.flat_features == 12_544                                        # C3D Table 2: Flatten 12,544
    x = torch.zeros(1, 1, 36, 128, 128)
    with torch.no_grad():
        after1 = m.body[:5](x)
    assert after1.shape == (1, 16, 12, 42, 42)                              # Table 2: 12 × 42 × 42 × 16
    assert [lin.out_features for lin in m.head if isinstance(lin, torch.nn.Linear)] == [128, 3]


def test_c3d_split_model_b_and_c_shapes():
    assert build("c3d_split").flat_features == 16 * 1 * 4 * 4              # one more block: 4→1, 14→4
    assert build("c3d_model_b").flat_features == 32 * 7 * 20 * 20           # 36×64×64: conv 3×3×15, pool 3
    assert build("c3d_model_c").flat_features == 32 * 4 * 14 * 14
    with pytest.raises(ValueError, match="frames"):
        build("c3d_model_b", frames=10)


def test_c3d_he_normal_init_and_batchnorm_are_keras():
    torch.manual_seed(0)
    m = build("c3d_model_a")
    w = m.head[1].weight                                                    # fan_in 12,544
    std = math.sqrt(2 / 12_544)
    assert abs(w.std().item() / std - 1.0) < 0.03                           # Keras HeNormal: sd √(2/fan_in)
    assert w.abs().max().item() <= 2 * std / 0.8796 + 1e-7                  # cut at 2 sd of the widened normal
    assert w.abs().max().item() > 2 * std                                   # (a plain cut at 2σ is narrower)
    assert (m.head[1].bias == 0).all()
    bns = [layer for layer in m.body if isinstance(layer, torch.nn.BatchNorm3d)]
    assert len(bns) == 2 and all(b.momentum == 0.01 and b.eps == 1e-3 for b in bns)   # Keras 0.99, 1e-3
    t = build("c3d_model_c", profile="default", batchnorm="torch")
    assert {(bn.momentum, bn.eps) for bn in t.body if isinstance(bn, torch.nn.BatchNorm3d)} == {(0.1, 1e-5)}
    with pytest.raises(ConfigError, match="batchnorm"):
        build("c3d_split", profile="default", batchnorm="tf")


def test_c3d_model_b_follows_its_official_code():
    from melib.train import paper_config

    torch.manual_seed(0)
    m = build("c3d_model_b")
    conv, dense = m.body[0], m.head[1]
    fan_in, fan_out = conv.weight[0].numel(), conv.weight.shape[0] * conv.weight[0, 0].numel()
    bound = math.sqrt(6 / (fan_in + fan_out))                               # Glorot uniform (Keras default)
    assert conv.weight.abs().max() <= bound and conv.weight.abs().max() > 0.95 * bound
    assert abs(dense.weight.std().item() - 0.05) < 0.001 and (dense.bias == 0).all()   # init='normal'
    cfg = paper_config("c3d_model_b")
    assert (cfg.optimizer, cfg.lr, cfg.momentum, cfg.batch_size, cfg.input_norm) == ("sgd", 0.01, 0.0, 8, "mean_max")
    assert paper_config("c3d_model_a").input_norm is None
    a = build("c3d_model_b", init="he_normal")
    assert abs(a.head[1].weight.std().item() - math.sqrt(2 / a.flat_features)) < 1e-4
    with pytest.raises(ConfigError, match="init"):
        build("c3d_model_b", init="lecun")


# ------------------------------------------------------------------ DLHN


def test_fuse_against_hand_values():
    p_h = np.array([[0.2, 0.8], [0.5, 0.5]])
    p_r = np.array([[0.6, 0.4], [0.1, 0.9]])
    np.testing.assert_allclose(dlhn.fuse(p_h, p_r), [[0.42, 0.58], [0.28, 0.72]])     # a = 0.45
    np.testing.assert_allclose(dlhn.fuse(p_h, p_r, 0.0), p_r)
    np.testing.assert_allclose(dlhn.fuse(p_h, p_r, 1.0), p_h)
    with pytest.raises(ValueError):
        dlhn.fuse(p_h, p_r, 1.5)
    t = dlhn.fuse(torch.tensor(p_h), torch.tensor(p_r), 0.3)
    assert torch.allclose(t, torch.tensor([[0.48, 0.52], [0.22, 0.78]], dtype=t.dtype))
    # sample 0: argmax(O) flips from class 0 to class 1 once a·0.8 + (1-a)·0.4 > a·0.2 + (1-a)·0.6, a > 0.25
    sweep = dlhn.fuse_sweep(p_h[:1], p_r[:1], [1], a_values=(0.1, 0.2, 0.3, 0.9))
    assert sweep == {0.1: 0.0, 0.2: 0.0, 0.3: 1.0, 0.9: 1.0}
    assert dlhn.A_SWEEP == (0.1, 0.2, 0.3, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9)


def test_hcnn_output_sizes_match_table_2():
    h = dlhn.HCNN()
    want = {"eyebrows": (560, 4, 14), "eyes": (560, 2, 14), "nose": (560, 4, 7), "mouth": (560, 4, 7)}
    for roi, (hh, ww) in dlhn.ROI_SIZES.items():
        with torch.no_grad():
            assert h(torch.zeros(1, 1, hh, ww)).shape[1:] == want[roi]


def test_dlhn_init_penalty_and_fusion_forward():
    torch.manual_seed(0)
    r = build("dlhn_rprnn", profile="default", init_std=0.1)
    biases = [p for n, p in r.named_parameters() if n.rsplit(".", 1)[-1].startswith("bias")]
    weights = [p for n, p in r.named_parameters() if not n.rsplit(".", 1)[-1].startswith("bias")]
    one = [p for p in biases if p.requires_grad]
    assert all((b == 0.1).all() for b in one) and len(one) == len(biases) - 4   # DLHN 4.3: biases 0.1
    hh = [p for n, p in r.named_parameters() if "bias_hh" in n]                 # torch's second gate bias:
    assert len(hh) == 4 and all((b == 0).all() and not b.requires_grad for b in hh)   # 0 and frozen (TF: one)
    w = torch.cat([p.flatten() for p in weights])
    assert w.abs().max() <= 0.2 + 1e-6 and abs(w.std().item() - 0.088) < 0.005   # trunc. normal σ 0.1
    assert torch.isclose(r.l2_penalty(), (w ** 2).sum())                        # DLHN Eq. 7
    d = build("dlhn", profile="default").eval()
    x = example_input(d, batch=2)
    with torch.no_grad():
        want = 0.45 * d.hcrnn(x).softmax(-1) + 0.55 * d.rprnn(x).softmax(-1)
        assert torch.allclose(d(x).softmax(-1), want, atol=1e-6)
        assert torch.allclose(d(x, a=1.0).softmax(-1), d.hcrnn(x).softmax(-1), atol=1e-6)
    assert build("dlhn", profile="default", hcrnn=d.hcrnn, rprnn=r).rprnn is r   # separately trained parts


def test_dlhn_decay_spans_the_stated_epochs():
    from melib.train import paper_config

    for name in ("dlhn_hcrnn", "dlhn_rprnn"):
        cfg = paper_config(name)
        assert cfg.epochs == 1500 and cfg.optimizer == "sgd"
        assert math.isclose(cfg.lr_decay ** cfg.epochs, 0.96 ** 100, rel_tol=1e-9)   # 1.7 % left at the end
        assert cfg.lr_decay ** 113 > 0.5                                 # (0.96 per epoch: < 1 % after 113)


# ------------------------------------------------------------------ PSN


def test_psn_fusion_parameter_counts_from_the_paper():
    with_conv = build("psn")
    without = build("psn", fusion_conv=False)
    assert psn.fusion_parameter_count(with_conv) == 82_240          # 4 × (256 + 1) × 80
    assert psn.fusion_parameter_count(without) == 20_976_640        # 64 × (4096 + 1) × 80
    with torch.no_grad():                                            # Table 1 with Caffe's rounded-up pooling
        assert with_conv.spatial.backbone(torch.zeros(1, 1, 112, 112)).shape == (1, 256, 5, 5)
        floor = psn.AlexNetLike(ceil_pool=False)
        assert floor(torch.zeros(1, 1, 112, 112)).shape == (1, 256, 4, 4)
    assert with_conv.spatial.fc[1].in_features == 6_400             # 256 × 5 × 5 into the FC of 4096
    assert psn.PAPER_TRAINING["psn"]["batch_size"] * 16 == psn.PAPER_ROWS   # 5 clips × 16 frames = 80 rows
    assert isinstance(with_conv.classifier[0], torch.nn.Dropout) and with_conv.classifier[0].p == 0.5


def test_temporal_perception_and_tpu_step_by_hand():
    g = torch.Generator().manual_seed(3)
    frames = torch.rand(2, 3, 1, 4, 4, generator=g, dtype=torch.float64)
    tp = psn.tp_coefficients(frames)
    flat = frames.flatten(2).numpy()
    assert tp.shape == (2, 3) and (tp[:, 0] == 1).all()
    np.testing.assert_allclose(tp[:, 1:].numpy(), np.diff(flat, axis=1).std(axis=-1))     # PSN Eq. 7
    grey = psn.tp_coefficients(frames, psn.TP_UNIT)                  # Eq. 7 in 8-bit grey levels, tp_0 = 1
    np.testing.assert_allclose(grey[:, 1:].numpy(), 255 * tp[:, 1:].numpy())
    assert (grey[:, 0] == 1).all()
    cell = psn.TPULayer(16, 3, 2).double()
    x = frames.flatten(2)
    y = cell(x, tp)
    h = torch.zeros(2, 3, dtype=torch.float64)
    for t in range(3):
        ht = torch.tanh(x[:, t] @ cell.w_i.weight.T + cell.w_i.bias + h @ cell.w_h.weight.T)      # Eq. 8
        h = torch.tanh((tp[:, t:t + 1] * ht) @ cell.w_ht.weight.T + cell.w_ht.bias)              # Eq. 9
        assert torch.allclose(y[:, t], torch.tanh(h @ cell.w_o.weight.T + cell.w_o.bias))      # Eq. 4


def test_psn_ablations_and_variants_run_and_differ():
    torch.manual_seed(0)
    base = build("psn", profile="default").eval()
    x = example_input(base, batch=2, seed=5)
    swapped = build("psn", profile="default", swap_inputs=True).eval()
    swapped.load_state_dict(base.state_dict())
    tp1 = build("psn", profile="default", tp_one=True).eval()
    tp1.load_state_dict(base.state_dict())
    unit1 = build("psn", profile="default", tp_unit=1.0).eval()   # swapped in, E's tp is taken as it is
    unit1.load_state_dict(base.state_dict())
    with torch.no_grad():
        out = base(x)
        assert torch.allclose(swapped({"sparse": x["frames"], "frames": x["sparse"]}), unit1(x))
        assert not torch.allclose(unit1(x), out)
        assert not torch.allclose(tp1(x), out)
        for kw in [dict(branches="spatial"), dict(branches="temporal"), dict(cell="rnn"),
                   dict(fusion_conv=False), dict(fusion="prod"), dict(fusion="concat"),
                   dict(backbone="vgg16"), dict(backbone="resnet10")]:
            m = build("psn", profile="default", **kw).eval()
            assert m(x).shape == (2, 4), kw
    assert build("psn", cell="rnn").tpu.w_ht is None
    assert build("psn", branches="spatial").tpu is None
    with pytest.raises(ConfigError):
        build("psn", fusion="max")


# ------------------------------------------------------------------ CropNet


def test_cropnet_parameter_count_and_position_embedding():
    torch.manual_seed(0)
    m = build("cropnet")
    assert abs(n_params(m) - cropnet.PAPER_PARAMS) / cropnet.PAPER_PARAMS < 0.05   # "approximately 7.6M"
    assert m.pos.shape == (9, 24)                                                  # p_1 … p_9 ∈ ℝ²⁴
    assert abs(m.pos.std().item() - math.sqrt(0.2)) < 0.08                        # N(0, 0.2)
    d = build("cropnet", profile="default").eval()
    x = example_input(d, batch=2)
    with torch.no_grad():
        base = d(x)
        d.pos.add_(1.0)                                                            # Eq. 8 is in the path
        assert not torch.allclose(d(x), base)
    no = build("cropnet", profile="default", cgpo=False).eval()
    assert no.input_spec == {"image": (3, 64, 64)} and len(no.heads) == 1 and no.pos is None
    with torch.no_grad():
        assert no(example_input(no, batch=2)).shape == (2, 3)


def test_cropnet_adamp_has_weight_decay():
    from melib.train import paper_config

    cfg = paper_config("cropnet")
    assert (cfg.optimizer, cfg.weight_decay, cfg.label_smoothing) == ("adamp", 1e-2, 0.1)


# ------------------------------------------------------------------ LocalRegions


def test_region_labels_follow_table_1():
    rl = local_regions.region_label
    assert rl("happiness", "cheek_left") == "happiness" and rl("happiness", "nose") == "no_reaction"
    assert rl("disgust", "nose") == "disgust" and rl("sadness", "mouth") == "no_reaction"
    assert rl("surprise", "eye_right") == "surprise" and rl("repression", "eye_left") == "no_reaction"
    assert rl("negative", "cheek_right") == "no_reaction" and rl("positive", "mouth") == "positive"
    classes = ["negative", "positive", "surprise"]
    assert local_regions.region_classes(classes, "mouth") == classes
    assert local_regions.region_classes(classes, "nose") == ["negative", "no_reaction"]
    assert local_regions.region_classes(classes, "cheek_left") == ["positive", "no_reaction"]
    assert local_regions.region_classes(classes, "eye_left") == ["negative", "surprise", "no_reaction"]
    np.testing.assert_array_equal(local_regions.region_targets([0, 1, 2, 1], classes, "eye_left"), [0, 2, 1, 2])
    assert local_regions.region_targets(torch.tensor([1, 0]), classes, "nose").tolist() == [1, 0]
    with pytest.raises(ConfigError):
        rl("boredom", "mouth")


def test_region_cnn_follows_eq_2_and_stage_1_weights_load():
    torch.manual_seed(0)
    cnn = build("localregions_cnn", region="nose")
    assert cnn.out.out_features == 2 and cnn.input_spec == {"nose": (3, 80, 120)}
    with torch.no_grad():
        a = cnn.a(torch.zeros(1, 3, 80, 120))
        assert a.shape == (1, 8, 20, 30)                                     # MP(Conv₈³(MP(Conv₄⁵)))
        assert torch.cat([m(a) for m in cnn.b], 1).shape == (1, 72, 10, 15)  # 8 + 4 × 16 channels
        assert cnn.features(torch.rand(2, 3, 80, 120)).shape == (2, 20)      # SF: FCL_20
    stage2 = build("localregions", profile="default")
    s1 = {r: build("localregions_cnn", profile="default", region=r) for r in local_regions.REGIONS}
    stage2.load_stage1(s1)
    assert torch.equal(stage2.cnns["mouth"].out.weight, s1["mouth"].out.weight)
    before = {k: v.clone() for k, v in stage2.cnns.state_dict().items()}
    head_before = stage2.classifier[0].weight.detach().clone()
    opt = torch.optim.SGD([p for p in stage2.parameters() if p.requires_grad], lr=0.1)
    x = example_input(stage2.train(), batch=2)
    torch.nn.functional.cross_entropy(stage2(x), torch.tensor([0, 1])).backward()
    opt.step()
    assert all(torch.equal(v, stage2.cnns.state_dict()[k]) for k, v in before.items())  # frozen CNNs
    assert not torch.equal(stage2.classifier[0].weight, head_before)                        # the rest learns


def test_local_regions_pads_features_not_frames():
    """LocalRegions 3.3 pads the LSTM's input sequences (the features SF) with zeros: the steps after a clip's
    last frame get zero features; a zero frame inside the clip (the onset minus itself) stays a frame."""
    torch.manual_seed(0)
    m = build("localregions", profile="default").eval()
    x = example_input(m, batch=2, seed=3)
    for r in x:
        x[r][0, 4:] = 0          # clip 0: 4 frames, then 2 padding frames
        x[r][1, 0] = 0           # clip 1: a zero first frame, not padding
    np.testing.assert_array_equal(local_regions.padding_mask(x).numpy(), [[1, 1, 1, 1, 0, 0], [1] * 6])
    seen = {}
    for name in ("zeros", "cnn"):
        net = build("localregions", profile="default", pad_features=name).eval()
        net.load_state_dict(m.state_dict())
        hook = net.lstms["mouth"].register_forward_hook(lambda mod, inp, out, k=name: seen.__setitem__(k, inp[0]))
        with torch.no_grad():
            net(x)
        hook.remove()
    assert (seen["zeros"][0, 4:] == 0).all() and (seen["zeros"][0, :4] == seen["cnn"][0, :4]).all()
    assert (seen["cnn"][0, 4:] != 0).any()                      # black frames through the CNN: CNN(0) != 0
    assert (seen["zeros"][1] == seen["cnn"][1]).all()
    with pytest.raises(ConfigError, match="pad_features"):
        build("localregions", profile="default", pad_features="mean")


def test_local_regions_ablations():
    face = build("localregions", profile="default", regions=("face",)).eval()
    classic = build("localregions", profile="default", cnn="classic").eval()
    assert face.input_spec == {"face": (6, 3, 32, 32)}
    with torch.no_grad():
        assert face(example_input(face, batch=2)).shape == (2, 3)
        assert classic(example_input(classic, batch=2)).shape == (2, 3)
    five = build("localregions", classes=["I", "II", "III", "IV", "V"], profile="default")
    assert five.classifier[-1].out_features == 5 and five.cnns["cheek_left"].out.out_features == 2


# ------------------------------------------------------------------ baselines


def test_lbp_svm_pipelines():
    from melib.models.baselines import lbp_svm

    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(0, 1, (10, 30)), rng.normal(3, 1, (10, 30))])
    y = np.repeat([0, 1], 10)
    pipe = lbp_svm("sip").fit(X, y)
    assert [n for n, _ in pipe.steps] == ["scale", "svm"] and pipe.score(X, y) == 1.0
    with pytest.raises(ConfigError):
        lbp_svm("xyz")
    with pytest.raises(ConfigError, match="from_clips"):
        lbp_svm("top", blocks=(2, 2))
    # from clips: bright moving square vs static texture, LBP-TOP on 2 × 2 blocks
    clips, labels = [], []
    for i in range(8):
        c = (rng.random((10, 16, 16)) * 40).astype(np.uint8)
        if i % 2:
            for t in range(10):
                c[t, 4:10, t:t + 6] = 200
        clips.append(c)
        labels.append(i % 2)
    pipe = lbp_svm("top", from_clips=True, blocks=(2, 2)).fit(clips, labels)
    assert pipe.named_steps["lbp"].transform(clips[:1]).shape[0] == 1
    assert pipe.score(clips, labels) == 1.0


def test_package_docstring_example_runs():
    import doctest

    import melib.models

    failures, tried = doctest.testmod(melib.models, verbose=False)
    assert tried > 0 and failures == 0

"""Convolutional logic gate networks: LogicConv2d, OrPool2d, image encoders, conv presets, lowering."""
from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from gatelearn.circuit import Circuit
from gatelearn.errors import InputError
from gatelearn.gates import GATES
from gatelearn.kernels.conv_tree import fused_tree_available, tree_forward, tree_forward_reference
from gatelearn.layers import parametrization as P
from gatelearn.layers.conv import LogicConv2d, OrPool2d
from gatelearn.layers.encoders import ThresholdEncoder, apply_encoder_override
from gatelearn.lowering import lower
from gatelearn.model import build_model, load, save

MNIST_DIRS = [os.environ.get("GATELEARN_DATA"), str(Path(__file__).resolve().parents[2] / "shared" / "datasets"),
              "/work/shared/datasets"]


def _naive_tree(layer: LogicConv2d, x: torch.Tensor, coeffs: torch.Tensor | None = None,
                gate_ids: np.ndarray | None = None) -> torch.Tensor:
    """Per position, per channel: gather the leaves from the padded input and evaluate the
    tree level by level, either relaxed (coeffs) or with the gate table on ints (gate_ids)."""
    (ph, pw), (sh, sw) = layer.padding, layer.stride
    xp = F.pad(x, (pw, pw, ph, ph))
    B, _, H, W = x.shape
    ho, wo = layer.out_size(H, W)
    out = torch.zeros(B, layer.out_channels, ho, wo, dtype=x.dtype)
    L = layer.leaves
    for o in range(layer.out_channels):
        for i in range(ho):
            for j in range(wo):
                vals = [xp[:, layer.leaf_channel[o, l], i * sh + layer.leaf_dy[o, l], j * sw + layer.leaf_dx[o, l]]
                        for l in range(L)]
                g = 0
                while len(vals) > 1:
                    nxt = []
                    for a, b in zip(vals[0::2], vals[1::2]):
                        if gate_ids is not None:
                            gate = GATES[int(gate_ids[o, g])]
                            nxt.append(torch.tensor([gate(int(ai), int(bi)) for ai, bi in zip(a, b)], dtype=x.dtype))
                        else:
                            c0, ca, cb, cab = coeffs[o, g]
                            nxt.append(c0 + ca * a + cb * b + cab * a * b)
                        g += 1
                    vals = nxt
                out[:, o, i, j] = vals[0]
    return out


def _random_conv(seed=0, **kw) -> LogicConv2d:
    opts = dict(in_channels=4, out_channels=6, kernel_size=3, depth=3, stride=1, padding=1, channel_groups=2,
                init="gaussian", seed=seed)
    opts.update(kw)
    return LogicConv2d(opts.pop("in_channels"), opts.pop("out_channels"), opts.pop("kernel_size"),
                       opts.pop("depth"), **opts)


# ----------------------------------------------------------------------------- the layer
@pytest.mark.parametrize("kw", [dict(), dict(stride=2, padding=0, kernel_size=(3, 2)), dict(depth=2, channel_groups=1),
                                dict(in_channels=1, channel_groups=1, kernel_size=5, padding=2)])
def test_relaxed_forward_matches_naive_per_position_reference(kw):
    torch.manual_seed(0)
    layer = _random_conv(**kw).train()
    x = torch.rand(2, layer.in_channels, 7, 6)
    y = layer(x)
    want = _naive_tree(layer, x.double(), layer.coefficients().detach().double())
    assert y.shape == want.shape
    torch.testing.assert_close(y.double(), want, atol=1e-5, rtol=1e-5)


def test_wiring_stays_inside_groups_and_receptive_field():
    layer = _random_conv(in_channels=8, out_channels=12, channel_groups=4, kernel_size=3, depth=3)
    per_in, per_out = 2, 3
    for o in range(12):
        chans = set(layer.leaf_channel[o].tolist())
        assert len(chans) <= 2 and all(c // per_in == o // per_out for c in chans)
        leaves = set(zip(layer.leaf_channel[o].tolist(), layer.leaf_dy[o].tolist(), layer.leaf_dx[o].tolist()))
        assert len(leaves) == 8   # distinct positions of the 2x3x3 field
    assert int(layer.leaf_dy.max()) <= 2 and int(layer.leaf_dx.max()) <= 2 and int(layer.leaf_dy.min()) >= 0


def test_eval_is_exact_against_the_gate_table():
    layer = _random_conv(seed=3).eval()
    ids = layer.gate_ids().numpy()
    assert len(set(ids.reshape(-1).tolist())) > 4    # gaussian init: many different gates
    x = torch.randint(0, 2, (3, 4, 5, 5)).float()
    y = layer(x)
    want = _naive_tree(layer, x, gate_ids=ids)
    assert torch.equal(y, want)
    assert set(torch.unique(y).tolist()) <= {0.0, 1.0}


def test_eval_requires_binary_input_and_checks_shapes():
    layer = _random_conv().eval()
    with pytest.raises(InputError, match="binary"):
        layer(torch.full((1, 4, 5, 5), 0.5))
    with pytest.raises(InputError, match="channels|shape"):
        layer(torch.zeros(1, 3, 5, 5))
    with pytest.raises(InputError):
        layer(torch.zeros(4, 5, 5))
    with pytest.raises(InputError, match="larger"):
        _random_conv(padding=0, kernel_size=5)(torch.zeros(1, 4, 3, 3))
    built = _random_conv(in_size=(6, 6))
    with pytest.raises(InputError, match="built for 6x6"):
        built(torch.zeros(1, 4, 5, 5))
    with pytest.raises(ValueError, match="channel_groups"):
        LogicConv2d(3, 4, 3, 3, channel_groups=2)


def test_gradients_reach_weights_and_inputs_and_fused_matches_reference():
    torch.manual_seed(1)
    layer = _random_conv(padding=1, stride=1).train()
    x = torch.rand(4, 4, 6, 6, requires_grad=True)
    g = torch.randn(4, 6, 6, 6)
    (layer(x) * g).sum().backward()
    gw, gx = layer.weight.grad.clone(), x.grad.clone()
    assert gw.abs().sum() > 0 and gx.abs().sum() > 0
    # the same with the pure-PyTorch formulation
    layer.weight.grad = None
    x2 = x.detach().clone().requires_grad_(True)
    xp = F.pad(x2, (1, 1, 1, 1)).reshape(4, -1)
    y = tree_forward_reference(xp, layer.leaf_index(6, 6), layer.coefficients()).view(4, 6, 6, 6)
    (y * g).sum().backward()
    torch.testing.assert_close(layer.weight.grad, gw, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(x2.grad, gx, atol=1e-4, rtol=1e-4)


def test_reference_kernel_gradcheck_double():
    torch.manual_seed(2)
    O, L, P_, N = 3, 4, 5, 20
    idx = torch.randint(0, N, (O, L, P_))
    x = torch.rand(2, N, dtype=torch.float64, requires_grad=True)
    c = torch.randn(O, L - 1, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(tree_forward_reference, (x, idx, c))


@pytest.mark.skipif(not fused_tree_available(), reason="fused conv kernel could not be built here")
def test_fused_kernel_matches_reference_on_random_shapes():
    rng = torch.Generator().manual_seed(5)
    for O, L, P_, N, B in [(5, 8, 17, 60, 3), (2, 2, 1, 3, 1), (4, 32, 9, 100, 2)]:
        idx = torch.randint(0, N, (O, L, P_), generator=rng)
        x = torch.rand(B, N, generator=rng, requires_grad=True)
        c = torch.randn(O, L - 1, 4, generator=rng, requires_grad=True)
        g = torch.randn(B, O, P_, generator=rng)
        y1 = tree_forward(x, idx, c, fused=True)
        (y1 * g).sum().backward()
        g1 = (x.grad.clone(), c.grad.clone())
        x.grad = c.grad = None
        y2 = tree_forward(x, idx, c, fused=False)
        (y2 * g).sum().backward()
        torch.testing.assert_close(y1, y2, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(g1[0], x.grad, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(g1[1], c.grad, atol=1e-4, rtol=1e-4)
    with pytest.raises(ValueError, match="out of range for 4 inputs"):
        tree_forward(torch.rand(1, 4), torch.full((1, 2, 3), 4), torch.randn(1, 1, 4), fused=True)
    with pytest.raises(ValueError, match="do not fit"):
        tree_forward(torch.rand(1, 4), torch.zeros(1, 2, 3, dtype=torch.int64), torch.randn(1, 2, 4), fused=True)


def test_leaf_runs_cut_the_index_table_into_contiguous_pieces():
    from gatelearn.kernels.conv_tree import leaf_runs

    def rebuild(row_ptr, runs, O, L, P_):
        idx = torch.full((O * L, P_), -1, dtype=torch.int64)
        for row in range(O * L):
            for p0, src, n in runs[row_ptr[row]:row_ptr[row + 1]].tolist():
                idx[row, p0:p0 + n] = torch.arange(src, src + n)
        return idx.view(O, L, P_)

    # a stride-1 convolution: one run per output row (here 4 rows of 4 positions)
    layer = LogicConv2d(3, 5, 3, 2, seed=1)
    idx = layer.leaf_index(6, 6)
    row_ptr, runs = leaf_runs(idx)
    assert row_ptr.dtype == runs.dtype == torch.int32
    assert torch.equal(row_ptr[1:] - row_ptr[:-1], torch.full((5 * 4,), 4, dtype=torch.int32))
    assert set(runs[:, 2].tolist()) == {4}
    assert torch.equal(rebuild(row_ptr, runs, 5, 4, 16), idx)
    # stride 2 and arbitrary tables (repeats, descending steps) round-trip too
    idx2 = LogicConv2d(2, 3, 3, 2, stride=2, padding=1, seed=2).leaf_index(7, 7)
    assert torch.equal(rebuild(*leaf_runs(idx2), *idx2.shape), idx2)
    rnd = torch.randint(0, 6, (3, 4, 9), generator=torch.Generator().manual_seed(0))
    assert torch.equal(rebuild(*leaf_runs(rnd), 3, 4, 9), rnd)


@pytest.mark.parametrize("parametrization,sampling", [("light", "soft"), ("walsh", "gumbel"), ("softmax16", "gumbel")])
def test_other_parametrizations_and_sampling_train(parametrization, sampling):
    layer = _random_conv(parametrization=parametrization, sampling=sampling).train()
    x = torch.rand(2, 4, 5, 5)
    y = layer(x)
    assert y.shape == (2, 6, 5, 5) and float(y.detach().min()) >= -1e-6 and float(y.detach().max()) <= 1 + 1e-6
    y.sum().backward()
    assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0
    assert layer.weight.shape[1] == P.num_params(parametrization)


def test_residual_init_passes_the_first_leaf_through():
    layer = LogicConv2d(2, 3, 3, 3, padding=1, seed=0).eval()   # residual init: every gate is `a`
    x = torch.randint(0, 2, (2, 2, 4, 4)).float()
    y = layer(x)
    xp = F.pad(x, (1, 1, 1, 1))
    for o in range(3):
        c, dy, dx = (int(t[o, 0]) for t in (layer.leaf_channel, layer.leaf_dy, layer.leaf_dx))
        assert torch.equal(y[:, o], xp[:, c, dy:dy + 4, dx:dx + 4])
    assert layer.gate_count() if layer.in_size else True


def test_gate_count_unrolls_over_positions():
    layer = LogicConv2d(1, 16, 5, 3, in_size=(28, 28))
    assert layer.gate_count() == 16 * 7 * 24 * 24
    with pytest.raises(ValueError, match="in_size"):
        LogicConv2d(1, 2, 3, 2).gate_count()


# ----------------------------------------------------------------------------- OR pooling
def test_or_pool_is_max_relaxed_and_or_hard():
    pool = OrPool2d(2)
    x = torch.rand(2, 3, 6, 6)
    torch.testing.assert_close(pool.train()(x), F.max_pool2d(x, 2))
    bits = torch.randint(0, 2, (2, 3, 6, 6)).float()
    y = pool.eval()(bits)
    want = bits.reshape(2, 3, 3, 2, 3, 2).amax(dim=(3, 5))
    assert torch.equal(y, want)
    with pytest.raises(InputError, match="binary"):
        pool(x)
    padded = OrPool2d(2, padding=1).eval()(bits[:, :, :5, :5])
    assert padded.shape == (2, 3, 3, 3)
    assert torch.equal(padded[:, :, 0, 0], bits[:, :, 0, 0])      # window = padding + one pixel
    with pytest.raises(ValueError):
        OrPool2d(2, padding=2)


def test_or_pool_gradient_goes_to_the_max():
    x = torch.tensor([[[[0.1, 0.9], [0.3, 0.2]]]], requires_grad=True)
    OrPool2d(2).train()(x).sum().backward()
    assert x.grad.tolist() == [[[[0.0, 1.0], [0.0, 0.0]]]]


@pytest.mark.skipif(not fused_tree_available(), reason="conv extension unavailable")
@pytest.mark.parametrize("shape,k", [((4, 3, 8, 8), 2), ((2, 5, 9, 12), 3), ((2, 2, 6, 4), 1)])
def test_window_max_kernel_equals_max_pool2d_values_and_gradient(shape, k):
    # OrPool2d's C++ path: the same values as F.max_pool2d and the whole gradient to the first
    # maximum of each window, also on bits, where most windows are ties.
    from gatelearn.kernels.conv_tree import window_max
    g = torch.Generator().manual_seed(k)
    for x in (torch.rand(shape, generator=g), torch.randint(0, 2, shape, generator=g).float()):
        grad = torch.randn(shape[0], shape[1], shape[2] // k, shape[3] // k, generator=g)
        xa, xb = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
        F.max_pool2d(xa, k, k).backward(grad)
        yb = window_max(xb, k, fused=True)
        yb.backward(grad)
        assert torch.equal(yb, F.max_pool2d(x, k, k))
        assert torch.equal(xb.grad, xa.grad)
    with pytest.raises(RuntimeError, match="multiples"):
        window_max(torch.rand(1, 1, 5, 5), 2, fused=True)


# ----------------------------------------------------------------------------- image encoder
def test_threshold_encoder_image_layout_and_bit_table():
    C, H, W, K = 3, 4, 5, 3
    thr = torch.rand(C * H * W, K).sort(dim=1).values * 255
    enc = ThresholdEncoder(C * H * W, K, thr, image=(C, H, W))
    assert enc.out_shape == (C * K, H, W)
    x = torch.randint(0, 256, (6, C * H * W)).float()
    bits = enc(x)
    assert bits.shape == (6, C * K, H, W)
    # channel c*K + k holds thermometer bit k of channel c
    img = x.view(6, C, H, W)
    for c, k in itertools.product(range(C), range(K)):
        want = (img[:, c] > thr.view(C, H, W, K)[:, :, :, k][c]).float()
        assert torch.equal(bits[:, c * K + k], want)
    # bit_table in the flattened output order: encoding raw features with it gives the same bits
    from gatelearn.circuit.ir import InputEncoding
    table = enc.bit_table()
    enc_ir = InputEncoding.from_bit_table(table, enc.in_features)
    assert np.array_equal(enc_ir.encode(x.numpy()), bits.reshape(6, -1).numpy().astype(bool))
    assert enc.spec()["image"] == [C, H, W]
    with pytest.raises(ValueError, match="image shape"):
        ThresholdEncoder(10, 1, image=(1, 3, 3))


def test_encoder_override_keeps_thresholds():
    base = ThresholdEncoder(12, 2, torch.arange(24.0).view(12, 2))
    enc = apply_encoder_override(base, {"kind": "thresholds", "per_feature": 2, "image": [3, 2, 2]})
    assert torch.equal(enc.thresholds, base.thresholds) and enc.out_shape == (6, 2, 2)
    with pytest.raises(InputError, match="fitted buffers"):
        apply_encoder_override(base, {"per_feature": 3})
    assert apply_encoder_override(base, None) is base


def test_encoder_override_levels_replace_the_thresholds():
    base = ThresholdEncoder(4, 1, torch.full((4, 1), 127.0), image=(1, 2, 2))
    enc = apply_encoder_override(base, {"kind": "thresholds", "per_feature": 1, "image": [1, 2, 2],
                                        "levels": [63, 127, 191]})
    assert enc.per_feature == 3 and enc.out_shape == (3, 2, 2) and "levels" not in enc.spec()
    x = torch.tensor([[0.0, 64.0, 128.0, 255.0]])
    # channel k = pixel > levels[k]
    assert enc(x).view(3, 4).tolist() == [[0, 1, 1, 1], [0, 0, 1, 1], [0, 0, 0, 1]]
    assert base.per_feature == 1      # the dataset's encoder is left as it was
    for bad in ([], [127, 63], [1.0, float("nan")]):
        with pytest.raises(InputError, match="increasing thresholds"):
            apply_encoder_override(base, {"levels": bad})


def test_threshold_encoder_crop_encodes_only_the_window():
    C, H, W, K = 2, 5, 6, 2
    t = torch.rand(C * H * W, K).sort(dim=1).values * 255
    full = ThresholdEncoder(C * H * W, K, t, image=(C, H, W))
    crop = ThresholdEncoder(C * H * W, K, t, image=(C, H, W), crop=(1, 2, 3, 4))
    x = torch.randint(0, 256, (9, C * H * W)).float()
    assert crop.out_shape == (C * K, 3, 4) and crop.out_features == C * K * 12
    assert torch.equal(crop(x), full(x)[:, :, 1:4, 2:6])
    bt = crop.bit_table()      # raw feature indices into the whole image, for the circuit backends
    assert np.array_equal(x.numpy()[:, bt.feature] > bt.value, crop(x).reshape(9, -1).numpy() > 0)
    assert crop.spec()["crop"] == [1, 2, 3, 4]
    for bad in [(0, 0, 6, 1), (0, 5, 1, 2), (0, 0, 0, 2)]:
        with pytest.raises(ValueError, match="crop"):
            ThresholdEncoder(C * H * W, K, image=(C, H, W), crop=bad)
    with pytest.raises(ValueError, match="image shape"):
        ThresholdEncoder(10, 1, crop=(0, 0, 1, 1))


def test_threshold_encoder_relaxed_ramp():
    """relaxed(): the ramp clamp((x - t) / width + 1/2, 0, 1) in forward()'s layout (crop included);
    MNIST's threshold 127 with width 255 gives grey values; a narrow ramp gives the hard bits."""
    C, H, W, K = 2, 5, 6, 2
    t = torch.rand(C * H * W, K).sort(dim=1).values * 200 + 20
    enc = ThresholdEncoder(C * H * W, K, t, image=(C, H, W), crop=(1, 2, 3, 4))
    x = torch.randint(0, 256, (9, C * H * W)).float()
    soft = enc.relaxed(x, 40.0)
    assert soft.shape == enc(x).shape and float(soft.min()) >= 0 and float(soft.max()) <= 1
    assert torch.equal(enc.relaxed(x + 0.5, 1e-3), enc(x + 0.5))   # x + 0.5 never sits on a threshold
    assert torch.equal((soft > 0.5), enc(x) > 0)
    mnist = ThresholdEncoder(784, 1, torch.full((784, 1), 127.0))
    pixels = torch.randint(0, 256, (4, 784), dtype=torch.uint8)
    assert torch.allclose(mnist.relaxed(pixels, 255.0), pixels.float() / 255, atol=0.5 / 255 + 1e-6)
    with pytest.raises(InputError, match="width"):
        mnist.relaxed(pixels, 0.0)
    with pytest.raises(InputError, match="shape"):
        mnist.relaxed(pixels[:, :10], 255.0)


def test_crop_override_keeps_thresholds_and_compiles_exactly():
    from gatelearn.backends.c import compile_c
    base = ThresholdEncoder(64, 1, torch.rand(64, 1) * 255)
    enc = apply_encoder_override(base, {"kind": "thresholds", "image": [1, 8, 8], "crop": [2, 1, 5, 6]})
    assert torch.equal(enc.thresholds, base.thresholds) and enc.out_features == 30
    with pytest.raises(InputError, match="fitted buffers"):
        apply_encoder_override(base, {"features": 32, "image": [1, 4, 8]})
    spec = {"encoder": enc.spec(), "layers": [{"kind": "flatten"}, {"kind": "logic", "out": 40, "init": "gaussian"},
                                              {"kind": "logic", "out": 20, "init": "gaussian"}],
            "head": {"kind": "groupsum", "classes": 4, "tau": 2.0}, "seed": 3}
    model = build_model(spec)
    model.encoder.load_state_dict(base.state_dict())
    x = np.random.default_rng(0).integers(0, 256, (300, 64)).astype(np.uint8)
    _assert_lowering_exact(model, x)
    with torch.no_grad():
        want = model(torch.from_numpy(x.astype(np.float32))).argmax(1).numpy()
    got = compile_c(lower(model)).run(x).classes
    assert np.array_equal(got, want)


# ----------------------------------------------------------------------------- models, state, lowering
def _conv_spec(seed=0, per_feature=2, image=(2, 9, 9), init="gaussian") -> dict:
    C, H, W = image
    conv = {"init": init}
    return {"encoder": {"kind": "thresholds", "features": C * H * W, "per_feature": per_feature, "image": list(image)},
            "layers": [{"kind": "conv", "out_channels": 8, "kernel_size": 3, "depth": 3, "padding": 1,
                        "channel_groups": 2, **conv},
                       {"kind": "orpool", "kernel_size": 2, "padding": 1},
                       {"kind": "conv", "out_channels": 12, "kernel_size": 2, "depth": 2, "stride": 2, **conv},
                       {"kind": "orpool", "kernel_size": 2, "padding": 1},
                       {"kind": "flatten"},
                       {"kind": "logic", "out": 60, "init": init}],
            "head": {"kind": "groupsum", "classes": 3, "tau": 2.0}, "seed": seed}


def _randomize_thresholds(model, seed):
    g = torch.Generator().manual_seed(seed)
    t = model.encoder.thresholds
    t.copy_(torch.rand(t.shape, generator=g).sort(dim=1).values * 255)


def test_state_dict_round_trip(tmp_path):
    model = build_model(_conv_spec(seed=4))
    _randomize_thresholds(model, 4)
    keys = model.state_dict().keys()
    assert any(k.endswith("leaf_channel") for k in keys) and any(k.endswith("leaf_dx") for k in keys)
    save(model, tmp_path)
    other = load(tmp_path)
    x = torch.randint(0, 256, (16, 162)).float()
    model.eval()
    assert torch.equal(model(x), other(x))
    for (k, v), (k2, v2) in zip(model.state_dict().items(), other.state_dict().items()):
        assert k == k2 and torch.equal(v, v2)
    # a model built with another seed has other wiring, so loading restores it (not the spec seed)
    fresh = build_model(_conv_spec(seed=5))
    fresh.load_state_dict(model.state_dict())
    fresh.eval()
    assert torch.equal(fresh(x), model(x))


def _assert_lowering_exact(model, x: np.ndarray, chunk: int = 2000):
    model.eval()
    circuit = lower(model)
    for i in range(0, len(x), chunk):
        xb = x[i:i + chunk]
        bits = circuit.encoder.encode(xb)
        counts = circuit.class_counts(circuit.simulate(bits))
        with torch.no_grad():
            scores = model(torch.from_numpy(xb.astype(np.float32))).numpy()
        # GroupSum divides float32 sums by tau in float32; the same division must give the same bits
        assert np.array_equal(counts.astype(np.float32) / np.float32(circuit.head.tau), scores), \
            "circuit disagrees with model.eval()"
    return circuit


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lowering_is_bit_exact_on_random_conv_models(seed, tmp_path):
    model = build_model(_conv_spec(seed=seed))
    _randomize_thresholds(model, seed)
    x = np.random.default_rng(seed).integers(0, 256, (300, 162)).astype(np.uint8)
    circuit = _assert_lowering_exact(model, x)
    # one FALSE constant (the first gate: layer 0 pads first), shared by every padded layer;
    # 3 ORs per 2x2 window
    assert circuit.op[0] == 0 and circuit.layer[0] == 0
    pools = [m for m in model.layers if isinstance(m, OrPool2d)]
    assert len(pools) == 2
    # pools: 9x9 -> 5x5 (8 channels), 2x2 -> 2x2 (12 channels, every window half padding)
    assert circuit.num_gates == model.num_gates() + 1 + 3 * (8 * 5 * 5) + 3 * (12 * 2 * 2)
    # the IR file round trip keeps it exact
    circuit.save(tmp_path / "c.npz")
    again = Circuit.load(tmp_path / "c.npz")
    bits = again.encoder.encode(x)
    assert np.array_equal(again.simulate(bits), circuit.simulate(bits))


def _mnist():
    from gatelearn.data import load_dataset
    for d in MNIST_DIRS:
        if d and Path(d, "mnist").is_dir():
            return load_dataset("mnist", data_dir=d, download=False)
    pytest.skip("MNIST not found (looked for mnist/ in $GATELEARN_DATA and ../shared/datasets)")


def test_lowering_is_bit_exact_on_the_mnist_test_set():
    ds = _mnist()
    spec = {"encoder": {"kind": "thresholds", "features": 784, "per_feature": 1, "image": [1, 28, 28]},
            "layers": [{"kind": "conv", "out_channels": 4, "kernel_size": 5, "depth": 3, "init": "gaussian"},
                       {"kind": "orpool"},
                       {"kind": "conv", "out_channels": 12, "kernel_size": 3, "depth": 3, "init": "gaussian"},
                       {"kind": "orpool", "padding": 1},
                       {"kind": "conv", "out_channels": 36, "kernel_size": 3, "depth": 3, "init": "gaussian"},
                       {"kind": "orpool", "padding": 1},
                       {"kind": "flatten"}, {"kind": "logic", "out": 400, "init": "gaussian"},
                       {"kind": "logic", "out": 200, "init": "gaussian"}],
            "head": {"kind": "groupsum", "classes": 10, "tau": 3.0}, "seed": 7}
    model = build_model(spec)
    model.encoder.load_state_dict(ds.make_encoder().state_dict())
    # a few training steps so the scores are not degenerate
    opt = torch.optim.AdamW(model.parameters(), lr=0.05)
    for i in range(5):
        xb = torch.from_numpy(ds.x_train[i * 64:(i + 1) * 64].astype(np.float32))
        loss = F.cross_entropy(model(xb), torch.from_numpy(ds.y_train[i * 64:(i + 1) * 64]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    _assert_lowering_exact(model, ds.x_test)


# ----------------------------------------------------------------------------- presets
CONV_PRESETS = ["mnist-conv-s", "mnist-conv-m", "fashion-conv-s", "cifar10-conv-s", "cifar10-conv-m"]


@pytest.mark.parametrize("name", CONV_PRESETS)
def test_conv_presets_build_and_train_on_tiny_synthetic_data(name):
    from gatelearn.data.datasets import Dataset
    from gatelearn.training.presets import layer_specs, make_config
    config = make_config(name)
    image = config["encoder"]["image"]
    n_feat = image[0] * image[1] * image[2]
    rng = np.random.default_rng(0)
    ds = Dataset(config["dataset"], rng.integers(0, 256, (4, n_feat)).astype(np.uint8), rng.integers(0, 10, 4),
                 rng.integers(0, 256, (2, n_feat)).astype(np.uint8), rng.integers(0, 10, 2), 10,
                 tuple(image), [str(i) for i in range(10)], [f"p{i}" for i in range(n_feat)])
    enc = apply_encoder_override(ds.make_encoder(), config["encoder"])
    model = build_model({"encoder": enc.spec(), "layers": layer_specs(config),
                         "head": {"kind": "groupsum", "classes": 10, "tau": config["tau"]}, "seed": 0})
    model.encoder.load_state_dict(enc.state_dict())
    ref = config.get("reference") or {}
    if ref.get("gates"):   # within 15% of the published gate count
        assert abs(model.num_gates() - ref["gates"]) / ref["gates"] < 0.15
    if name == "mnist-conv-s":
        assert model.num_gates() <= 150_000
    opt = torch.optim.AdamW(model.parameters(), lr=config["lr"])
    x = torch.from_numpy(ds.x_train.astype(np.float32))
    y = torch.from_numpy(ds.y_train)
    losses = []
    for _ in range(3):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    model.eval()
    assert model(torch.from_numpy(ds.x_test.astype(np.float32))).shape == (2, 10)


def test_mnist_conv_s_preset_hardens_its_conv_layers_in_the_real_loop(tmp_path):
    # The preset's schedule on 8 steps: the conv layers become their discrete gates at steps 4, 5
    # and 6 (50/60/70%) and freeze; then the conv stack computes in training exactly what it
    # computes in eval(), so the dense layers learn on the circuit's values.
    from gatelearn.data.datasets import Dataset
    from gatelearn.training import make_config, train_model
    from gatelearn.training.loop import learned_layers
    config = make_config("mnist-conv-s", iterations=8, batch_size=4, eval_every=4, threads=1)
    assert config["harden_at"] == [0.5, 0.6, 0.7] and config["augment_shift"] == 1
    rng = np.random.default_rng(0)
    ds = Dataset("mnist", rng.integers(0, 256, (8, 784)).astype(np.uint8), rng.integers(0, 10, 8),
                 rng.integers(0, 256, (3, 784)).astype(np.uint8), rng.integers(0, 10, 3), 10,
                 (1, 28, 28), [str(i) for i in range(10)], [f"p{i}" for i in range(784)])
    model, _ = train_model(config, tmp_path / "run", progress=False, dataset=ds)
    convs = [m for m in learned_layers(model) if isinstance(m, LogicConv2d)]
    assert len(convs) == 3 and not any(m.weight.requires_grad for m in convs)
    assert all(m.weight.requires_grad for m in learned_layers(model)[3:])
    stack = torch.nn.Sequential(*model.layers[:7])    # 3 x (conv, OR pool), flatten
    bits = model.encoder(torch.from_numpy(ds.x_test.astype(np.float32)))
    model.train()
    relaxed = stack(bits)
    model.eval()
    assert torch.allclose(relaxed, stack(bits), rtol=0, atol=1e-6)
    assert set(torch.unique(stack(bits)).tolist()) <= {0.0, 1.0}

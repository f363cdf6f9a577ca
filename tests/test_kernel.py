"""The fused CPU logic kernel against the PyTorch reference (the spec), and the fallback paths."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch

import gatelearn
from gatelearn import kernels
from gatelearn.kernels import logic_forward, logic_forward_reference
from gatelearn.layers import LogicLayer

# Built once per machine (cached in torch's extensions folder); the first session pays ~1 minute.
FUSED = kernels.fused_available()
needs_fused = pytest.mark.skipif(not FUSED, reason=f"fused kernel unavailable: {kernels.fused_unavailable_reason()}")

TOL = {torch.float32: dict(rtol=1e-5, atol=1e-5), torch.float64: dict(rtol=1e-12, atol=1e-12)}


def both_paths(x, idx_a, idx_b, coeffs, grad_out):
    """Outputs and (x, coeffs) gradients of the fused kernel and of the reference."""
    res = []
    for fused in (True, False):
        xx = x.detach().clone().requires_grad_(True)
        cc = coeffs.detach().clone().requires_grad_(True)
        y = logic_forward(xx, idx_a, idx_b, cc, fused=fused)
        gx, gc = torch.autograd.grad(y, (xx, cc), grad_out)
        res.append((y.detach(), gx, gc))
    return res


def _fused_matches_reference(coefficients, params, table, hard, grad_c):
    """Assert that a coefficient function gives the same value and parameter gradient on the
    fused path as on the reference; return the fused value."""
    res = []
    for fused in (True, False):
        p = params.clone().requires_grad_(True)
        c = coefficients(p, table, hard, fused=fused)
        res.append((c.detach(), torch.autograd.grad(c, p, grad_c)[0]))
    for got, want in zip(*res):
        torch.testing.assert_close(got, want, **TOL[params.dtype])
    return res[0][0]


@needs_fused
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("hard", [False, True])
def test_fused_softmax_coefficients_match_reference(dtype, hard):
    from gatelearn.gates import coeffs_tensor
    g = torch.Generator().manual_seed(3)
    z = torch.randn(500, 16, generator=g, dtype=dtype) * 4
    z[0] = 0.0                     # all tied: the first gate wins, as torch.argmax
    z[1, 7], z[2, 2] = 1e4, -1e4   # one-hot and an exponent far below the float range
    z[3, 5] = z[3, 9] = 50.0       # a tie between two maxima
    table = coeffs_tensor(dtype)
    got = _fused_matches_reference(kernels.softmax_coefficients, z, table, hard,
                                   torch.randn(500, 4, generator=g, dtype=dtype))
    if hard:   # exactly a table row, the first maximum's
        assert torch.equal(got, table[z.argmax(-1)])


@needs_fused
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("hard", [False, True])
def test_fused_rows_coefficients_match_reference(dtype, hard):
    # light / walsh: sigmoid of 4 row logits, then the fixed row -> coefficient map
    from gatelearn.gates import truth_to_coeffs_tensor
    g = torch.Generator().manual_seed(4)
    q = torch.randn(501, 4, generator=g, dtype=dtype) * 5     # 501: not a multiple of the SIMD width
    q[0] = 0.0                                                # sigmoid(0) = 1/2; hard: the row is 0
    q[1] = torch.tensor([1e4, -1e4, 90.0, -90.0], dtype=dtype)  # saturated both ways
    row_map = truth_to_coeffs_tensor(dtype)
    got = _fused_matches_reference(kernels.rows_coefficients, q, row_map, hard,
                                   torch.randn(501, 4, generator=g, dtype=dtype))
    if hard:   # exactly the coefficients of the rows q > 0
        assert torch.equal(got, (q > 0).to(dtype) @ row_map)


@needs_fused
@pytest.mark.parametrize("pre", [False, True])
def test_gradcheck_fused_rows_coefficients_float64(pre):
    # pre: walsh's weights go in and the kernel applies its fixed map to them
    from gatelearn.gates import truth_to_coeffs_tensor
    from gatelearn.layers.parametrization import _walsh_map
    q = torch.randn(13, 4, dtype=torch.float64, requires_grad=True)
    pre_map = _walsh_map(torch.float64, "cpu") if pre else None
    f = lambda q: kernels.rows_coefficients(q, truth_to_coeffs_tensor(torch.float64), pre_map=pre_map, fused=True)  # noqa: E731
    assert torch.autograd.gradcheck(f, (q,))
    want = kernels.rows_coefficients(q, truth_to_coeffs_tensor(torch.float64), pre_map=pre_map, fused=False)
    torch.testing.assert_close(f(q), want)
    with pytest.raises(ValueError, match="pre_map"):
        kernels.rows_coefficients(q, truth_to_coeffs_tensor(torch.float64), True,
                                  pre_map=_walsh_map(torch.float64, "cpu"))


@needs_fused
def test_gradcheck_fused_softmax_coefficients_float64():
    from gatelearn.gates import coeffs_tensor
    z = torch.randn(40, 16, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda z: kernels.softmax_coefficients(z, coeffs_tensor(torch.float64), fused=True), (z,))


@needs_fused
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("batch", [1, 7, 33])
def test_raw_kernel_matches_reference(dtype, batch):
    g = torch.Generator().manual_seed(batch)
    n_in, n_out = 29, 41
    idx_a = torch.randint(0, n_in, (n_out,), generator=g)
    idx_b = torch.randint(0, n_in, (n_out,), generator=g)
    idx_b[:6] = idx_a[:6]                       # repeated inputs: a == b
    x = torch.rand(batch, n_in, generator=g, dtype=dtype)
    coeffs = torch.randn(n_out, 4, generator=g, dtype=dtype)
    gy = torch.randn(batch, n_out, generator=g, dtype=dtype)
    (yf, gxf, gcf), (yr, gxr, gcr) = both_paths(x, idx_a, idx_b, coeffs, gy)
    assert yf.shape == yr.shape == (batch, n_out) and yf.dtype == dtype
    torch.testing.assert_close(yf, yr, **TOL[dtype])
    torch.testing.assert_close(gxf, gxr, **TOL[dtype])
    torch.testing.assert_close(gcf, gcr, **TOL[dtype])


@needs_fused
def test_all_gates_read_one_input_and_unread_inputs_get_zero_grad():
    # in_features=1: every operand of every gate reads input 0 (a long inverse-index list);
    # in the second case most inputs are read by nobody and must get an exact zero gradient.
    for n_in, idx_a, idx_b in [(1, torch.zeros(50, dtype=torch.long), torch.zeros(50, dtype=torch.long)),
                               (40, torch.tensor([3, 3, 7]), torch.tensor([7, 3, 39]))]:
        x = torch.rand(5, n_in, dtype=torch.float64)
        coeffs = torch.randn(idx_a.numel(), 4, dtype=torch.float64)
        gy = torch.randn(5, idx_a.numel(), dtype=torch.float64)
        (yf, gxf, gcf), (yr, gxr, gcr) = both_paths(x, idx_a, idx_b, coeffs, gy)
        torch.testing.assert_close(yf, yr)
        torch.testing.assert_close(gxf, gxr)
        torch.testing.assert_close(gcf, gcr)
        unread = torch.ones(n_in, dtype=torch.bool)
        unread[idx_a] = False
        unread[idx_b] = False
        assert (gxf[:, unread] == 0).all()


@needs_fused
@pytest.mark.parametrize("wanted", ["x", "coeffs"])
def test_backward_of_one_side_only(wanted):
    # The backward has two forms: one pass over the inputs when grad_x is needed (with or
    # without the coefficient sums), one over the gates when only the coefficients need it
    # (the first layer, fed by data). Each must match the reference alone.
    g = torch.Generator().manual_seed(5)
    idx_a, idx_b = torch.randint(0, 23, (37,), generator=g), torch.randint(0, 23, (37,), generator=g)
    idx_b[:4] = idx_a[:4]
    x = torch.rand(9, 23, generator=g, dtype=torch.float64)
    coeffs = torch.randn(37, 4, generator=g, dtype=torch.float64)
    gy = torch.randn(9, 37, generator=g, dtype=torch.float64)
    grads = []
    for fused in (True, False):
        xx = x.clone().requires_grad_(wanted == "x")
        cc = coeffs.clone().requires_grad_(wanted == "coeffs")
        y = logic_forward(xx, idx_a, idx_b, cc, fused=fused)
        grads.append(torch.autograd.grad(y, xx if wanted == "x" else cc, gy)[0])
    torch.testing.assert_close(grads[0], grads[1])


def _layer_grads(layer: LogicLayer, x: torch.Tensor, gy: torch.Tensor, fused: bool, seed: int):
    """Output and grads of x and of the layer's weight. The coefficients (for gumbel: the sample)
    are drawn with a fixed seed, so both paths see the same gates."""
    torch.manual_seed(seed)
    coeffs = layer.coefficients().to(x.dtype)
    xx = x.detach().clone().requires_grad_(True)
    y = logic_forward(xx, layer.idx_a, layer.idx_b, coeffs, fused=fused, cache=layer._kernel_cache)
    gx, gw = torch.autograd.grad(y, (xx, layer.weight), gy)
    return y.detach(), gx, gw


@needs_fused
@pytest.mark.parametrize("parametrization", ["softmax16", "light", "walsh"])
@pytest.mark.parametrize("sampling", ["soft", "gumbel"])
@pytest.mark.parametrize("init", ["residual", "gaussian"])
@pytest.mark.parametrize("connections", ["random", "unique"])
def test_layer_fused_matches_reference(parametrization, sampling, init, connections):
    layer = LogicLayer(24, 37, connections=connections, parametrization=parametrization, init=init,
                       sampling=sampling, seed=5).train()
    for batch in (1, 9):
        x = torch.rand(batch, 24)
        gy = torch.randn(batch, 37)
        yf, gxf, gwf = _layer_grads(layer, x, gy, True, seed=11)
        yr, gxr, gwr = _layer_grads(layer, x, gy, False, seed=11)
        torch.testing.assert_close(yf, yr, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(gxf, gxr, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(gwf, gwr, rtol=1e-5, atol=1e-5)
        assert gwf.abs().sum() > 0   # the weight really receives a gradient


@needs_fused
@pytest.mark.parametrize("parametrization", ["softmax16", "light", "walsh"])
def test_gradcheck_fused_float64(parametrization):
    layer = LogicLayer(6, 5, parametrization=parametrization, init="gaussian", seed=2).double()
    idx_a, idx_b = layer.idx_a.clone(), layer.idx_b.clone()
    idx_b[0] = idx_a[0]
    x = torch.rand(3, 6, dtype=torch.float64, requires_grad=True)
    w = layer.weight.detach().clone().requires_grad_(True)

    from gatelearn.layers import parametrization as P

    def f(x, w):
        return logic_forward(x, idx_a, idx_b, P.coefficients(parametrization, w), fused=True)

    assert torch.autograd.gradcheck(f, (x, w), eps=1e-6, atol=1e-8)


@needs_fused
def test_gradcheck_raw_coefficients_float64():
    idx_a = torch.tensor([0, 2, 4, 1, 1])
    idx_b = torch.tensor([1, 2, 0, 3, 4])
    x = torch.rand(4, 5, dtype=torch.float64, requires_grad=True)
    c = torch.randn(5, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, c: logic_forward(x, idx_a, idx_b, c, fused=True), (x, c))


@needs_fused
def test_chain_of_layers_and_noncontiguous_inputs():
    # A fused layer returns a transposed view; the next layer must read it correctly, and any
    # other strided input (a column slice) must work too.
    torch.manual_seed(0)
    spec = {"encoder": {"kind": "bits", "features": 20},
            "layers": [{"kind": "logic", "out": 30, "init": "gaussian"},
                       {"kind": "logic", "out": 40, "init": "gaussian"},
                       {"kind": "logic", "out": 20, "init": "gaussian"}],
            "head": {"kind": "groupsum", "classes": 4, "tau": 2.0}, "seed": 3}
    model = gatelearn.build_model(spec).train()
    x = torch.randint(0, 2, (13, 20)).float()
    outs, grads = [], []
    for fused in (True, False):
        model.zero_grad()
        with kernels.use_fused(fused):
            out = model(x)
        out.square().sum().backward()
        outs.append(out.detach())
        grads.append([p.grad.clone() for p in model.parameters()])
    torch.testing.assert_close(outs[0], outs[1], rtol=1e-5, atol=1e-5)
    for gf, gr in zip(*grads):
        torch.testing.assert_close(gf, gr, rtol=1e-5, atol=1e-5)

    wide = torch.rand(6, 50)
    sliced = wide[:, 5:29]                              # (6, 24), row stride 50
    c = torch.randn(7, 4)
    ia, ib = torch.randint(0, 24, (7,)), torch.randint(0, 24, (7,))
    torch.testing.assert_close(logic_forward(sliced, ia, ib, c, fused=True),
                               logic_forward_reference(sliced, ia, ib, c))


@needs_fused
def test_eval_mode_hard_circuit_identical():
    layer = LogicLayer(16, 64, init="gaussian", seed=1).eval()
    x = torch.randint(0, 2, (21, 16)).float()
    with torch.no_grad():
        with kernels.use_fused(True):
            yf = layer(x)
        with kernels.use_fused(False):
            yr = layer(x)
    assert torch.equal(yf, yr)
    assert set(yf.unique().tolist()) <= {0.0, 1.0}


@needs_fused
def test_thread_count_does_not_change_results():
    # No atomics: every output element is computed by one thread in a fixed order.
    layer = LogicLayer(300, 900, init="gaussian", seed=4)
    coeffs = layer.coefficients().detach()
    x = torch.rand(17, 300)
    old = torch.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            xx, cc = x.clone().requires_grad_(True), coeffs.clone().requires_grad_(True)
            y = logic_forward(xx, layer.idx_a, layer.idx_b, cc, fused=True)
            gx, gc = torch.autograd.grad(y, (xx, cc), torch.ones_like(y))
            results.append((y.detach(), gx, gc))
    finally:
        torch.set_num_threads(old)
    for a, b in zip(*results):
        assert torch.equal(a, b)


@needs_fused
def test_wiring_cache_follows_load_state_dict():
    # The prepared wiring is cached on the layer; loading another wiring must not reuse it.
    a = LogicLayer(12, 20, init="gaussian", seed=1)
    b = LogicLayer(12, 20, init="gaussian", seed=2)
    x = torch.rand(5, 12)
    with torch.no_grad():
        a(x)                                  # fills a's cache
        assert "fused_wiring" in a._kernel_cache
        a.load_state_dict(b.state_dict())
        torch.testing.assert_close(a(x), b(x))
        with kernels.use_fused(False):
            torch.testing.assert_close(a(x), b(x))


@needs_fused
def test_layer_with_filled_cache_can_be_pickled_and_copied(tmp_path):
    import copy
    layer = LogicLayer(12, 20, init="gaussian", seed=1)
    x = torch.rand(5, 12)
    y = layer(x).detach()
    torch.save(layer, tmp_path / "layer.pt")        # whole-module pickle, cache included
    again = torch.load(tmp_path / "layer.pt", weights_only=False)
    clone = copy.deepcopy(layer)
    clone.idx_a.copy_(torch.roll(clone.idx_a, 1))   # the copy's wiring diverges from the original
    torch.testing.assert_close(again(x), y)
    with kernels.use_fused(False):
        expected = clone(x)
    torch.testing.assert_close(clone(x), expected)
    torch.testing.assert_close(layer(x).detach(), y)


def test_unsupported_cases_use_reference_or_raise():
    x = torch.rand(3, 5, dtype=torch.bfloat16)
    c = torch.randn(4, 4, dtype=torch.bfloat16)
    ia, ib = torch.tensor([0, 1, 2, 3]), torch.tensor([4, 3, 2, 1])
    # fused=None silently takes the reference for dtypes the kernel does not handle
    assert torch.equal(logic_forward(x, ia, ib, c), logic_forward_reference(x, ia, ib, c))
    with pytest.raises(ValueError, match="float32 or float64"):
        logic_forward(x, ia, ib, c, fused=True)
    with pytest.raises(ValueError, match="same dtype"):
        logic_forward(x.float(), ia, ib, c.double(), fused=True)


def _run(code: str, env_extra: dict) -> subprocess.CompletedProcess:
    env = dict(os.environ, **env_extra)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True,
                          text=True, timeout=240)


TRAIN_ONE_STEP = """
    import warnings, torch, gatelearn
    from gatelearn import kernels
    warnings.simplefilter("always")
    with warnings.catch_warnings(record=True) as caught:
        ok = kernels.fused_available()
        spec = {"encoder": {"kind": "bits", "features": 8}, "layers": [{"kind": "logic", "out": 12}],
                "head": {"kind": "groupsum", "classes": 2, "tau": 1.0}, "seed": 0}
        model = gatelearn.build_model(spec).train()
        opt = torch.optim.Adam(model.parameters(), lr=0.1)
        x = torch.randint(0, 2, (4, 8)).float()
        loss = torch.nn.functional.cross_entropy(model(x), torch.tensor([0, 1, 0, 1]))
        loss.backward(); opt.step()
        assert model.layers[0].weight.grad.abs().sum() > 0
        kernels.fused_available()          # asking again must not warn again
    msgs = [str(w.message) for w in caught if "fused CPU logic kernel" in str(w.message)]
    print("AVAILABLE", ok, "WARNINGS", len(msgs))
    for m in msgs: print("MSG", m)
    try:
        kernels.logic_forward(x, torch.tensor([0]), torch.tensor([1]), torch.zeros(1, 4), fused=True)
    except gatelearn.ToolError as exc:
        print("TOOLERROR", exc)
"""


@pytest.mark.slow
def test_env_var_forces_reference_path():
    r = _run(TRAIN_ONE_STEP, {"GATELEARN_NO_EXTENSION": "1"})
    assert r.returncode == 0, r.stderr
    assert "AVAILABLE False WARNINGS 0" in r.stdout
    assert "TOOLERROR" in r.stdout and "GATELEARN_NO_EXTENSION" in r.stdout


@pytest.mark.slow
def test_build_failure_warns_once_and_trains(tmp_path):
    # An empty extensions folder and a compiler that always fails: the build is attempted, fails,
    # and the package warns once with the reason, then trains on the reference path.
    r = _run(TRAIN_ONE_STEP, {"TORCH_EXTENSIONS_DIR": str(tmp_path), "CXX": "/bin/false",
                              "GATELEARN_NO_EXTENSION": ""})
    assert r.returncode == 0, r.stderr
    assert "AVAILABLE False WARNINGS 1" in r.stdout, r.stdout + r.stderr
    assert "MSG gatelearn: the fused CPU logic kernel could not be built" in r.stdout
    assert "Reason:" in r.stdout
    assert "TOOLERROR" in r.stdout


def test_fused_available_really_builds():
    # Where a C++ compiler exists the kernel must actually build: a silent fallback would hide
    # a 20x slowdown. Skipped only on machines without one.
    import shutil
    if shutil.which(os.environ.get("CXX", "c++")) is None or os.environ.get("GATELEARN_NO_EXTENSION"):
        pytest.skip("no C++ compiler here (or extension disabled)")
    assert FUSED, kernels.fused_unavailable_reason()


def test_keep_freed_memory_sets_malloc_once_and_can_be_switched_off():
    # A setting of the whole process, so each case runs in a fresh interpreter.
    code = ("from gatelearn.kernels.allocator import keep_freed_memory as k; "
            "first = k(); print(first, k() == first)")
    for env, expected in (("1", "True True"), ("0", "False True")):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                             env={**os.environ, "GATELEARN_KEEP_FREED_MEMORY": env}).stdout.split()
        if env == "1" and not sys.platform.startswith("linux"):
            continue
        assert " ".join(out) == expected

"""Backends agree bit for bit with model.eval(): class scores (GroupSum counts), not only the
argmax, on whole test sets (MNIST, Adult), on random circuits of every gate kind, and for batch
sizes that are not multiples of the word width (0, 1, 63, 65, ...)."""
import gzip
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gatelearn
from gatelearn.backends import EMITTERS, Artifacts, compile_circuit, emit
from gatelearn.backends.c import CProgram, compiler
from gatelearn.circuit.ir import InputEncoding
from gatelearn.circuit.passes import optimize
from gatelearn.circuit.random import random_circuit
from gatelearn.errors import InputError, ToolError
from gatelearn.lowering import lower
from gatelearn.verification.agreement import agree_with_model, model_counts

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def idx(path):
    with gzip.open(path) as f:
        d = f.read()
    nd = d[3]
    dims = [int.from_bytes(d[4 + 4 * i:8 + 4 * i], "big") for i in range(nd)]
    return np.frombuffer(d, np.uint8, offset=4 + 4 * nd).reshape(dims)


@pytest.fixture(scope="session")
def mnist_test():
    f = DATA / "mnist" / "t10k-images-idx3-ubyte.gz"
    if not f.exists():
        pytest.skip(f"MNIST not found at {f}")
    return idx(f).reshape(-1, 784)


@pytest.fixture(scope="session")
def mnist_model():
    spec = {"encoder": {"kind": "thresholds", "features": 784, "per_feature": 1},
            "layers": [{"kind": "logic", "out": 1500, "init": "gaussian"} for _ in range(3)],
            "head": {"kind": "groupsum", "classes": 10, "tau": 10.0}, "seed": 3}
    m = gatelearn.build_model(spec).eval()
    m.encoder.thresholds.fill_(127.0)
    return m


@pytest.fixture(scope="session")
def mnist_circuit(mnist_model):
    c, _ = optimize(lower(mnist_model))
    return c


@pytest.fixture(scope="session")
def mnist_c(mnist_circuit):
    return CProgram(mnist_circuit)          # built once per session, cached by content hash


def test_numpy_matches_model_on_mnist(mnist_model, mnist_circuit, mnist_test):
    assert agree_with_model(mnist_model, compile_circuit(mnist_circuit, "numpy"), mnist_test)["agree"]


@pytest.mark.parametrize("threads", [1, 2])
def test_c_matches_model_on_mnist(mnist_model, mnist_c, mnist_test, threads):
    rep = agree_with_model(mnist_model, mnist_c, mnist_test, threads=threads)
    assert rep["agree"], rep
    # float inputs take the float32 entry point and must give the same answer
    rep = agree_with_model(mnist_model, mnist_c, mnist_test[:777].astype(np.float64) + 0.25, threads=threads)
    assert rep["agree"], rep


def test_unoptimized_circuit_agrees_too(mnist_model, mnist_test):
    c = lower(mnist_model)
    assert agree_with_model(mnist_model, compile_circuit(c, "numpy"), mnist_test[:500])["agree"]


@pytest.mark.parametrize("n", [0, 1, 2, 63, 64, 65, 255, 256, 257, 511, 513, 1000])
def test_edge_batch_sizes(mnist_model, mnist_c, mnist_test, n):
    x = mnist_test[:n]
    for threads in (1, 2):
        pred = mnist_c.run(x, threads=threads)
        assert pred.scores.shape == (n, 10) and pred.classes.shape == (n,)
        if n:
            assert (pred.scores == model_counts(mnist_model, x)).all()
        # without scores the C code takes the bit-sliced argmax path: same classes
        alone = mnist_c.run_prepared(mnist_c.prepare(x), threads=threads, scores=False)
        assert (alone.classes == pred.classes).all()


def _adult():
    f = DATA / "adult" / "adult.test"
    if not f.exists():
        pytest.skip(f"Adult not found at {f}")
    rows = [r.split(", ") for r in f.read_text().splitlines()[1:] if r.strip()]
    cols = list(zip(*rows))
    numeric = [0, 2, 4, 10, 11, 12]
    x, spec_cols = [], []
    for j in range(14):
        if j in numeric:
            x.append(np.array(cols[j], np.float64))
            spec_cols.append({"kind": "thresholds", "per_feature": 3})
        else:
            cats = sorted(set(cols[j]))
            x.append(np.array([cats.index(v) for v in cols[j]], np.float64))
            spec_cols.append({"kind": "onehot", "categories": len(cats)})
    return np.stack(x, 1), spec_cols


def test_adult_whole_test_set():
    x, columns = _adult()
    from gatelearn.layers.encoders import TabularEncoder
    spec = {"encoder": {"kind": "tabular", "columns": columns},
            "layers": [{"kind": "logic", "out": 256, "init": "gaussian"} for _ in range(5)],
            "head": {"kind": "groupsum", "classes": 2, "tau": 20.0}, "seed": 1}
    m = gatelearn.build_model(spec).eval()
    fitted = TabularEncoder.fit(x, columns)
    m.encoder.load_state_dict(fitted.state_dict())
    c, _ = optimize(lower(m))
    for target in ("numpy", "c"):
        rep = agree_with_model(m, compile_circuit(c, target), x, threads=2)
        assert rep["agree"], (target, rep)
    # the raw circuit (no passes) in C as well, portable build (64-bit words, no SIMD)
    raw = lower(m)
    assert agree_with_model(m, CProgram(raw, portable=True), x[:3000])["agree"]


# ---------------------------------------------------------------- random circuits, every gate kind
def _mixed_encoder(rng, bits, features):
    """gt and eq bits on a few features, thresholds that hit edge values (0, 255, negatives, .5)."""
    feat = rng.integers(0, features, bits)
    op = rng.integers(0, 2, bits).astype(np.uint8)
    val = np.where(op == 0, rng.choice([-1.0, 0.0, 0.5, 127.0, 127.5, 254.0, 255.0, 300.0], bits),
                   rng.choice([0.0, 1.0, 2.0, 255.0, 3.5], bits))
    return InputEncoding(features, feat, op, val)


@pytest.fixture(scope="session")
def random_program():
    rng = np.random.default_rng(7)
    enc = _mixed_encoder(rng, 40, 70)       # 70 features: a short last 64-feature chunk
    c = random_circuit(rng, 40, 3000, 7, 9, encoder=enc, locality=200)
    return c, CProgram(c), CProgram(c, portable=True)


def _raw(rng, n, features):
    return rng.choice(np.array([0, 1, 2, 3, 127, 128, 254, 255], np.uint8), size=(n, features))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2 ** 31), n=st.integers(0, 700), threads=st.integers(1, 3))
def test_random_circuit_every_kind_c_and_numpy(random_program, seed, n, threads):
    c, prog, portable = random_program
    assert (np.bincount(c.op, minlength=16) > 0).all()
    x = _raw(np.random.default_rng(seed), n, 70)
    expected = c.simulate(c.encoder.encode(x)).reshape(n, 7, 9).sum(-1)
    for p in (prog, portable):
        got = p.run(x, threads=threads)
        assert (got.scores == expected).all() and (got.classes == (expected.argmax(1) if n else [])).all()
        # classes alone (bit-sliced argmax; 9 outputs per class make ties common: first max wins)
        alone = p.run_prepared(p.prepare(x), threads=threads, scores=False)
        assert (alone.classes == got.classes).all()
        got = p.run(x.astype(np.float32), threads=threads)
        assert (got.scores == expected).all()
    assert (compile_circuit(c, "numpy").run(x).scores == expected).all()


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2 ** 31), inputs=st.integers(0, 5), gates=st.integers(0, 50))
def test_small_random_circuits_compile_and_agree(seed, inputs, gates):
    rng = np.random.default_rng(seed)
    if inputs + gates == 0:
        gates = 1
    c = random_circuit(rng, inputs, gates, 3, 2)
    x = rng.integers(0, 2, (130, inputs)).astype(np.uint8)
    expected = c.simulate(x.astype(bool)).reshape(130, 3, 2).sum(-1)
    assert (CProgram(c).run(x).scores == expected).all()
    d, _ = optimize(c)
    assert (CProgram(d).run(x).scores == expected).all()


@pytest.mark.parametrize("per_class", [1, 7, 15, 16, 17, 33, 64])
def test_class_counters_for_any_group_size(per_class):
    """The head counts 16 words per Harley-Seal step with zero padding: group sizes around
    multiples of 16 (and counters of 1 to 7 bits) must all count exactly."""
    rng = np.random.default_rng(per_class)
    c = random_circuit(rng, 24, 500, 3, per_class)
    x = rng.integers(0, 2, (300, 24)).astype(np.uint8)
    expected = c.simulate(x.astype(bool)).reshape(300, 3, per_class).sum(-1)
    assert (CProgram(c).run(x).scores == expected).all()


def test_large_workspace_gets_half_width_words(monkeypatch):
    """Auto word width: 512-bit words only while the workspace stays cache-sized; past
    WIDE_WORKSPACE_BYTES the build falls back to 256-bit words, with the same results."""
    import gatelearn.backends.c.emit as c_emit
    rng = np.random.default_rng(11)
    c = random_circuit(rng, 30, 400, 4, 5)
    x = rng.integers(0, 2, (700, 30)).astype(np.uint8)
    expected = c.simulate(x.astype(bool)).reshape(700, 4, 5).sum(-1)
    wide = CProgram(c)
    monkeypatch.setattr(c_emit, "WIDE_WORKSPACE_BYTES", 0)
    narrow = CProgram(c)
    assert narrow.block_samples <= 256 <= wide.block_samples
    for p in (wide, narrow):
        assert (p.run(x, threads=2).scores == expected).all()


# ---------------------------------------------------------------- emitters
def test_every_target_emits_artifacts(tmp_path):
    """One interface for every target: emit(circuit, name=...) -> Artifacts, written atomically;
    the C templates are filled completely (no ${FIELD} left)."""
    rng = np.random.default_rng(8)
    c = random_circuit(rng, 12, 80, 3, 4, encoder=_mixed_encoder(rng, 12, 5))
    expected = {"c": {"m.c", "m.h", "m_main.c"}, "numpy": {"m.py", "m.npz"}, "verilog": {"m.v"},
                "aiger": {"m.aig"}, "blif": {"m.blif"}}
    assert set(EMITTERS) == set(expected)
    for target, names in expected.items():
        art = emit(c, target, "m")
        assert isinstance(art, Artifacts) and set(art.files) == names, target
        paths = art.write(tmp_path / target)
        assert all(paths[f].read_bytes() == art.data(f) for f in names)
    assert all("${" not in emit(c, "c", "m")[f] for f in expected["c"])
    assert emit(c, "verilog").info["spec"].name == "gatelearn_model"
    with pytest.raises(InputError, match="unknown target"):
        emit(c, "vhdl")


def _import_emitted(art, folder):
    import importlib.util
    art.write(folder)
    spec = importlib.util.spec_from_file_location(f"emitted_{art.name}", folder / f"{art.name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_numpy_module_is_standalone_and_agrees(tmp_path, random_program):
    """The numpy target's NAME.py imports NumPy alone and computes what Circuit.simulate does:
    scores and classes from raw features (an encoder of gt/eq bits), and from bits (no encoder)."""
    import ast
    c = random_program[0]
    art = emit(c, "numpy", "net_mixed")
    tree = ast.parse(art["net_mixed.py"])
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert imported <= {"__future__", "pathlib", "numpy"}, imported
    module = _import_emitted(art, tmp_path / "mixed")
    rng = np.random.default_rng(3)
    for n in (0, 1, 65, 700):
        x = _raw(rng, n, 70)
        scores, classes = module.predict(x)
        expected = c.simulate(c.encoder.encode(x)).reshape(n, 7, 9).sum(-1)
        assert (scores == expected).all() and (classes == (expected.argmax(1) if n else [])).all()
        assert (module.predict(x.astype(np.float32))[0] == expected).all()
    bits_only = random_circuit(np.random.default_rng(4), 20, 300, 3, 5)
    module = _import_emitted(emit(bits_only, "numpy", "net_bits"), tmp_path / "bits")
    x = rng.integers(0, 2, (300, 20)).astype(np.uint8)
    assert (module.eval_bits(x.astype(bool)) == bits_only.simulate(x.astype(bool))).all()
    assert (module.predict(x)[0] == compile_circuit(bits_only, "numpy").run(x).scores).all()


# ---------------------------------------------------------------- errors
def test_bad_inputs_raise_input_error(mnist_c):
    with pytest.raises(InputError, match=r"\(N, 784\)"):
        mnist_c.run(np.zeros((3, 783), np.uint8))
    with pytest.raises(InputError, match="dtype"):
        mnist_c.run(np.zeros((3, 784), "U1"))
    with pytest.raises(InputError, match="NaN"):
        mnist_c.run(np.full((2, 784), np.nan))


def test_missing_compiler_is_a_tool_error(monkeypatch):
    monkeypatch.setenv("CC", "/nonexistent/gcc-missing")
    with pytest.raises(ToolError, match="not found"):
        compiler()

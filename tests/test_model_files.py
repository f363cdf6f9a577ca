"""Model and circuit files that are damaged or hand-edited: every bad value is refused with one
line naming the file and the tensor (or array), never loaded into a model or circuit that answers
wrongly. Also models built in Python with bad state (lowering refuses them) and absurd specs."""
from __future__ import annotations

import json
import zipfile
import zlib

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

import gatelearn
from gatelearn.circuit.ir import Circuit, Head, InputEncoding
from gatelearn.errors import FileFormatError, InputError
from gatelearn.lowering import lower
from gatelearn.model import build_model

DENSE = {"encoder": {"kind": "thresholds", "features": 6, "per_feature": 2},
         "layers": [{"kind": "logic", "out": 16, "init": "gaussian"},
                    {"kind": "logic", "out": 8, "init": "gaussian", "parametrization": "light"}],
         "head": {"kind": "groupsum", "classes": 2, "tau": 1.0}, "seed": 0}
CONV = {"encoder": {"kind": "thresholds", "features": 36, "per_feature": 1, "image": [1, 6, 6]},
        "layers": [{"kind": "conv", "out_channels": 4, "kernel_size": 3, "depth": 2},
                   {"kind": "orpool", "kernel_size": 2}, {"kind": "flatten"},
                   {"kind": "logic", "out": 8}],
        "head": {"kind": "groupsum", "classes": 2}, "seed": 1}


def _saved(tmp_path, spec, edit=None, name="m.safetensors"):
    """Save a model of ``spec``, then rewrite its file with ``edit(state)`` applied."""
    file = tmp_path / name
    gatelearn.save(build_model(spec), file)
    if edit is not None:
        state = load_file(str(file))
        from safetensors import safe_open
        with safe_open(str(file), framework="pt") as fh:
            meta = fh.metadata()
        edit(state)
        save_file(state, str(file), metadata=meta)
    return file


def _set(key, index, value):
    def edit(state):
        state[key][index] = value
    return edit


def _replace(key, tensor):
    def edit(state):
        state[key] = tensor
    return edit


BAD_TENSORS = {
    "negative wiring index": (DENSE, _set("layers.0.idx_a", 3, -1), r"layers\.0\.idx_a holds -1 at 3"),
    "wiring index past the inputs": (DENSE, _set("layers.1.idx_b", 0, 16), r"layers\.1\.idx_b holds 16 at 0.*0\.\.15"),
    "NaN weight": (DENSE, _set("layers.0.weight", (2, 5), float("nan")), r"layers\.0\.weight holds nan at \(2, 5\)"),
    "infinite weight": (DENSE, _set("layers.1.weight", (0, 0), float("inf")), r"layers\.1\.weight holds inf"),
    "NaN threshold": (DENSE, _set("encoder.thresholds", (4, 1), float("nan")),
                      r"encoder\.thresholds hold NaN .*feature 4, threshold 1"),
    "float wiring": (DENSE, lambda s: s.update({"layers.0.idx_a": s["layers.0.idx_a"].float() + 0.5}),
                     r"layers\.0\.idx_a has dtype torch\.float32.*integer"),
    "wrong shape": (DENSE, _replace("layers.0.weight", torch.zeros(3)), r"layers\.0\.weight has shape \(3,\)"),
    "missing tensor": (DENSE, lambda s: s.pop("layers.1.idx_b"), r"missing layers\.1\.idx_b"),
    "extra tensor": (DENSE, lambda s: s.update({"layers.9.x": torch.zeros(1)}), r"unexpected layers\.9\.x"),
    "conv channel out of range": (CONV, _set("layers.0.leaf_channel", (1, 2), 1),
                                  r"layers\.0\.leaf_channel holds 1 at \(1, 2\)"),
    "conv offset out of the kernel": (CONV, _set("layers.0.leaf_dx", (0, 0), 3), r"layers\.0\.leaf_dx holds 3"),
    "conv NaN weight": (CONV, _set("layers.0.weight", (0, 0), float("nan")), r"layers\.0\.weight holds nan"),
}


@pytest.mark.parametrize("case", BAD_TENSORS)
def test_load_refuses_bad_tensors_naming_them(tmp_path, case):
    spec, edit, pattern = BAD_TENSORS[case]
    file = _saved(tmp_path, spec, edit)
    with pytest.raises(FileFormatError, match=pattern) as info:
        gatelearn.load(file)
    assert str(file) in str(info.value) and "\n" not in str(info.value)


def test_good_files_still_load(tmp_path):
    for spec in (DENSE, CONV):
        model = build_model(spec)
        gatelearn.save(model, tmp_path / "ok.safetensors")
        loaded = gatelearn.load(tmp_path / "ok.safetensors")
        assert all(torch.equal(v, loaded.state_dict()[k]) for k, v in model.state_dict().items())


@pytest.mark.parametrize("case", ["negative wiring index", "wiring index past the inputs", "NaN weight",
                                  "NaN threshold", "conv channel out of range", "conv offset out of the kernel"])
def test_lowering_refuses_a_model_with_bad_state(case):
    spec, edit, pattern = BAD_TENSORS[case]
    model = build_model(spec)
    with torch.no_grad():
        state = dict(model.state_dict())
        edit(state)
        for k, v in state.items():
            model.state_dict()[k].copy_(v)
    with pytest.raises(InputError, match=pattern):
        lower(model)


BAD_SPECS = {
    "classes 0": ({**DENSE, "head": {"kind": "groupsum", "classes": 0}}, r"classes' must be in 1\.\."),
    "layers a string": ({**DENSE, "layers": "abc"}, r"'layers' must be a list"),
    "absurd width": ({**DENSE, "layers": [{"kind": "logic", "out": 10 ** 12}]}, r"'out' must be in 1\.\.\d+, got"),
    "width not a number": ({**DENSE, "layers": [{"kind": "logic", "out": "abc"}]}, r"must be an integer, got 'abc'"),
    "fractional width": ({**DENSE, "layers": [{"kind": "logic", "out": 2.5}]}, r"must be an integer, got 2\.5"),
    "NaN tau": ({**DENSE, "head": {"kind": "groupsum", "classes": 2, "tau": float("nan")}}, r"tau' must be a finite"),
    "absurd encoder": ({**DENSE, "encoder": {"kind": "thresholds", "features": 10 ** 12}}, r"features must be in"),
    "absurd categories": ({**DENSE, "encoder": {"kind": "onehot", "categories": [10 ** 12]}}, r"categories must be"),
    "absurd padding": ({**CONV, "layers": [{"kind": "conv", "out_channels": 4, "kernel_size": 3,
                                            "padding": 10 ** 6}]}, r"values per sample after layer 0"),
    "absurd conv": ({**CONV, "layers": [{"kind": "conv", "out_channels": 10 ** 9, "kernel_size": 3}]},
                    r"out_channels must be in"),
    "layer without out": ({**DENSE, "layers": [{"kind": "logic"}]}, r"needs 'out'"),
    "encoder without features": ({**DENSE, "encoder": {"kind": "thresholds"}}, r"needs 'features'"),
    "spec not an object": ([1, 2], r"must be a JSON object"),
    "columns a string": ({**DENSE, "encoder": {"kind": "tabular", "columns": "abc"}}, r"list of columns"),
}


@pytest.mark.parametrize("case", BAD_SPECS)
def test_bad_specs_are_one_clear_error(tmp_path, case):
    spec, pattern = BAD_SPECS[case]
    with pytest.raises(InputError, match=pattern):
        build_model(spec)
    # the same spec inside a model file
    file = tmp_path / "m.safetensors"
    save_file({"x": torch.zeros(1)}, str(file), metadata={"gatelearn_spec": json.dumps(spec)})
    with pytest.raises(FileFormatError, match=pattern) as info:
        gatelearn.load(file)
    assert "\n" not in str(info.value)


# ------------------------------------------------------------------------------- circuit files
def _circuit() -> Circuit:
    enc = InputEncoding(3, np.array([0, 1, 2, 2]), np.array([0, 0, 1, 1]), np.array([0.5, 1.5, 0.0, 1.0]),
                        np.array([0, 0, 2]))
    op = np.array([1, 6, 7, 14], np.uint8)
    return Circuit(4, op, np.array([0, 2, 4, 5]), np.array([1, 3, 1, 6]), np.array([5, 6, 7, 4]),
                   Head(2, 1.0), enc).validate()


def _rewrite_npz(src, dst, **changes):
    with np.load(src) as z:
        arrays = {k: z[k] for k in z.files}
    arrays.update(changes)
    np.savez_compressed(dst, **arrays)


@pytest.mark.parametrize("key, value, pattern", [
    ("op", np.array([1, 6, 270, 14], np.int64), r"op holds 270, outside 0\.\.15"),
    ("op", np.array([1, 6, -2, 14], np.int16), r"op holds -2"),
    ("enc_op", np.array([0, 0, 257, 1], np.int64), r"encoder op holds 257, outside 0\.\.1"),
    ("enc_value", np.array([0.5, 1.5, 0, 1 + 2j]), r"thresholds must be real numbers"),
    ("enc_feature", np.array([0, 1, 2, 2 ** 64 - 1], np.uint64), r"encoder feature holds \d+"),
    ("layer", np.array([0, 0, 2 ** 40, 1], np.int64), r"layer holds 1099511627776"),
    ("a", np.array([0.0, 2, 4, 5]), r"a must hold integer|'a' missing or not a 1-D integer"),
    ("enc_categories", np.array([0, -1, 2]), r"categories"),
])
def test_circuit_values_are_checked_before_narrowing(tmp_path, key, value, pattern):
    _circuit().save(tmp_path / "c.npz")
    _rewrite_npz(tmp_path / "c.npz", tmp_path / "bad.npz", **{key: value})
    with pytest.raises(FileFormatError, match=pattern):
        Circuit.load(tmp_path / "bad.npz")


def test_circuit_constructor_checks_before_narrowing():
    with pytest.raises(ValueError, match="op holds 270"):
        Circuit(2, np.array([270]), np.array([0]), np.array([1]), np.array([2]))


def test_circuit_meta_values_are_checked(tmp_path):
    c = _circuit()
    c.save(tmp_path / "c.npz")
    with np.load(tmp_path / "c.npz") as z:
        meta = json.loads(bytes(z["meta"]).decode())
    for change in ({"num_inputs": 3.7}, {"num_inputs": "4"}, {"head": {"classes": 2.5, "tau": 1}},
                   {"head": {"classes": 2, "tau": "x"}}, {"encoder": {"num_features": None}}, {"meta": [1]}):
        blob = np.frombuffer(json.dumps({**meta, **change}).encode(), np.uint8)
        _rewrite_npz(tmp_path / "c.npz", tmp_path / "bad.npz", meta=blob)
        with pytest.raises(FileFormatError):
            Circuit.load(tmp_path / "bad.npz")
    blob = np.frombuffer(b"[1, 2]", np.uint8)
    _rewrite_npz(tmp_path / "c.npz", tmp_path / "bad.npz", meta=blob)
    with pytest.raises(FileFormatError, match="not a JSON object"):
        Circuit.load(tmp_path / "bad.npz")


def test_every_flipped_byte_is_a_file_format_error(tmp_path):
    """A byte flipped in circuit.npz (every third one): a FileFormatError (zlib, zip, npy header,
    JSON, values) or, where the byte does not matter, the same circuit; never another exception."""
    c = _circuit()
    c.save(tmp_path / "c.npz")
    data = (tmp_path / "c.npz").read_bytes()
    bad = tmp_path / "flipped.npz"
    errors, causes = 0, set()
    for i in range(0, len(data), 3):
        bad.write_bytes(data[:i] + bytes([data[i] ^ 0x5A]) + data[i + 1:])
        try:
            d = Circuit.load(bad)
        except FileFormatError as exc:
            errors += 1
            causes.add(type(exc.__cause__))
            continue
        assert np.array_equal(d.op, c.op) and np.array_equal(d.a, c.a) and np.array_equal(d.outputs, c.outputs)
    assert errors > len(data) // 6
    assert {zlib.error, zipfile.BadZipFile} <= causes     # what NumPy's reading raises, both turned into one

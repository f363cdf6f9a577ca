"""A model spec's layer options are checked: an unknown option is refused, a bad value is an
InputError naming the layer (never a plain ValueError the CLI calls an internal error), and a
model answers a batch of 0 rows with 0 rows of class scores in every layer kind."""
from __future__ import annotations

import contextlib
import io
import json

import pytest
import torch

import gatelearn
from gatelearn.cli.main import main
from gatelearn.errors import FileFormatError, InputError
from gatelearn.layers.kinds import KINDS
from gatelearn.model import build_model


def _dense(layers: list[dict], features: int = 4) -> dict:
    return {"encoder": {"kind": "thresholds", "features": features, "per_feature": 2},
            "layers": layers, "head": {"kind": "groupsum", "classes": 2, "tau": 1.0}, "seed": 0}


def _conv(C: int = 2, H: int = 9, W: int = 9) -> dict:
    return {"encoder": {"kind": "thresholds", "features": C * H * W, "per_feature": 2, "image": [C, H, W]},
            "layers": [{"kind": "conv", "out_channels": 8, "kernel_size": 3, "depth": 3, "padding": 1,
                        "channel_groups": 2},
                       {"kind": "orpool", "kernel_size": 2, "padding": 1},
                       {"kind": "conv", "out_channels": 12, "kernel_size": 2, "depth": 2, "stride": 2},
                       {"kind": "orpool", "kernel_size": 2},
                       {"kind": "flatten"},
                       {"kind": "logic", "out": 60}],
            "head": {"kind": "groupsum", "classes": 3, "tau": 2.0}, "seed": 0}


def _cli(*argv) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
    return code, err.getvalue()


# ------------------------------------------------------------------ bad option values

@pytest.mark.parametrize("layer, words", [
    ({"kind": "logic", "out": 8, "init": "zz"}, ("unknown init 'zz'", "choose one of", "residual")),
    ({"kind": "logic", "out": 8, "parametrization": "zz"}, ("unknown parametrization 'zz'",)),
    ({"kind": "logic", "out": 8, "sampling": "zz"}, ("unknown sampling 'zz'",)),
    ({"kind": "logic", "out": 8, "gumbel_tau": "x"}, ("gumbel_tau", "'x'")),
    ({"kind": "logic", "out": 8, "gumbel_tau": 0}, ("gumbel_tau", "> 0")),
    ({"kind": "logic", "out": 8, "grad_factor": "x"}, ("grad_factor", "'x'")),
])
def test_a_bad_logic_option_value_is_an_input_error_naming_the_layer(layer, words):
    with pytest.raises(InputError) as info:
        build_model(_dense([{"kind": "logic", "out": 16}, layer]))
    msg = str(info.value)
    assert msg.startswith("layer 1 (logic): "), msg
    for w in words:
        assert w in msg, (w, msg)


def test_a_bad_conv_option_value_is_an_input_error_naming_the_layer():
    spec = _conv()
    spec["layers"][2]["init"] = "zz"
    with pytest.raises(InputError, match=r"^layer 2 \(conv\): unknown init 'zz'; choose one of"):
        build_model(spec)
    spec = _conv()
    spec["layers"][1]["padding"] = 5      # not smaller than the kernel: OrPool2d's ValueError
    with pytest.raises(InputError, match=r"^layer 1 \(orpool\): .*padding"):
        build_model(spec)


def test_a_saved_model_with_a_bad_init_is_a_file_format_error_naming_the_file(tmp_path):
    from safetensors.torch import load_file, save_file
    model = build_model(_dense([{"kind": "logic", "out": 8}]))
    file = gatelearn.save(model, tmp_path / "m.safetensors")
    spec = dict(model.spec)
    spec["layers"] = [{**spec["layers"][0], "init": "zz"}]
    save_file(load_file(str(file)), str(file), metadata={"gatelearn_spec": json.dumps(spec)})
    with pytest.raises(FileFormatError) as info:
        gatelearn.load(file)
    msg = str(info.value)
    assert "m.safetensors" in msg and "layer 0 (logic): unknown init 'zz'" in msg, msg


def test_a_config_with_a_bad_layer_default_is_one_line_not_an_internal_error(tmp_path):
    (tmp_path / "c.json").write_text('{"preset": "monk1", "layer_defaults": {"logic": {"init": "zz"}}}')
    code, err = _cli("train", "--config", tmp_path / "c.json", "--out", tmp_path / "run", "--iterations", "2",
                     "--threads", "1", "--no-progress")
    assert code == 2, err
    assert "internal error" not in err and "Traceback" not in err and err.count("\n") == 1, err
    assert "layer 0 (logic)" in err and "unknown init 'zz'" in err, err


# ------------------------------------------------------------------ unknown options

def test_an_unknown_layer_option_is_refused_naming_it_and_the_accepted_ones():
    with pytest.raises(InputError) as info:
        build_model(_dense([{"kind": "logic", "out": 8, "bogus": 1}]))
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith("layer 0 (logic): unknown option 'bogus'"), msg
    for key in ("out", "connections", "parametrization", "init", "sampling", "gumbel_tau", "grad_factor"):
        assert key in msg.split("accepts", 1)[1], (key, msg)


def test_every_unknown_option_is_named_for_every_kind():
    spec = _conv()
    spec["layers"][0]["zz"] = 1
    spec["layers"][0]["kernal_size"] = 3
    with pytest.raises(InputError, match=r"^layer 0 \(conv\): unknown options 'kernal_size', 'zz'; .*"
                                         r"out_channels, kernel_size, depth"):
        build_model(spec)
    spec = _conv()
    spec["layers"][1]["out"] = 4
    with pytest.raises(InputError, match=r"^layer 1 \(orpool\): unknown option 'out'; .*kernel_size, stride, padding"):
        build_model(spec)
    spec = _conv()
    spec["layers"][4]["out"] = 4
    with pytest.raises(InputError, match=r"^layer 4 \(flatten\): unknown option 'out'; .*accepts: none"):
        build_model(spec)


def test_a_config_with_an_unknown_layer_option_is_one_line(tmp_path):
    (tmp_path / "c.json").write_text('{"preset": "monk1", "layers": [{"kind": "logic", "out": 4, "bogus": 1}]}')
    code, err = _cli("train", "--config", tmp_path / "c.json", "--out", tmp_path / "run", "--iterations", "2",
                     "--threads", "1", "--no-progress")
    assert code == 2, err
    assert err.count("\n") == 1 and "unknown option 'bogus'" in err, err


def test_every_builtin_kind_declares_its_options_and_its_defaults_are_among_them():
    for name in ("logic", "conv", "orpool", "flatten"):
        kind = KINDS[name]
        assert kind.options is not None, name
        assert set(kind.defaults) <= set(kind.options), name
    assert KINDS["flatten"].options == ()


def test_every_preset_layer_spec_has_only_accepted_options():
    from gatelearn.training.presets import PRESETS, layer_specs, make_config
    for preset in PRESETS:
        for spec in layer_specs(make_config(preset)):
            assert KINDS[spec["kind"]].unknown_options(spec) == [], (preset, spec)


# ------------------------------------------------------------------ 0 rows

@pytest.mark.parametrize("spec, features, classes", [
    (_dense([{"kind": "logic", "out": 16}, {"kind": "logic", "out": 8}]), 4, 2),
    (_dense([{"kind": "logic", "out": 16, "parametrization": "light"}]), 4, 2),
    ({"encoder": {"kind": "onehot", "categories": [3, 2]}, "layers": [{"kind": "logic", "out": 8}],
      "head": {"kind": "groupsum", "classes": 2}, "seed": 0}, 2, 2),
    ({"encoder": {"kind": "bits", "features": 5}, "layers": [{"kind": "logic", "out": 8}],
      "head": {"kind": "groupsum", "classes": 4}, "seed": 0}, 5, 4),
    (_conv(), 2 * 9 * 9, 3),
], ids=["dense", "light", "onehot", "bits", "conv"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_zero_rows_give_zero_rows_of_scores(spec, features, classes, dtype):
    model = build_model(spec)
    model.train()
    x = torch.zeros(0, features, dtype=dtype)
    y = model(x)
    assert tuple(y.shape) == (0, classes)
    y.sum().backward()          # and the empty batch's gradient is zero, not an error
    for p in model.parameters():
        assert p.grad is None or not p.grad.any()
    model.eval()
    assert tuple(model(x).shape) == (0, classes)
    assert tuple(model.predict(x).shape) == (0,)


def test_groupsum_of_zero_rows_on_both_paths():
    from gatelearn.layers.groupsum import GroupSum
    head = GroupSum(3, 2.0)
    assert tuple(head(torch.zeros(0, 12)).shape) == (0, 3)                 # batch-major
    assert tuple(head(torch.zeros(12, 0).t()).shape) == (0, 3)             # feature-major view
    x = torch.zeros(12, 0, requires_grad=True)
    head(x.t()).sum().backward()
    assert tuple(x.grad.shape) == (12, 0)

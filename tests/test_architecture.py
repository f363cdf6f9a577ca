"""The package's layering: imports only go down, and the compiler half needs no torch.

``LAYERS`` is the one definition of the layer order (docs/ARCHITECTURE.md describes it). A module
may import from its own package and from packages on lower layers, never from a package on its
own layer or above. Imports inside functions count too: a lazy import is still a dependency.
"""
from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import gatelearn

PACKAGE = Path(gatelearn.__file__).parent

# Lowest first. Each entry: the top-level modules / sub-packages of gatelearn on that layer.
LAYERS: list[set[str]] = [
    {"gates", "errors", "fileio", "progress"},   # the gate table, exceptions, atomic writes, progress lines
    {"kernels"},                         # fused CPU kernels of the torch layers
    {"circuit"},                         # IR, builder, simulator, passes, reports (no torch)
    {"tools"},                           # wrappers of external programs: ABC, yosys, simulators
    {"backends"},                        # emitters (C, NumPy, Verilog, AIGER, BLIF) and runners (no torch)
    {"layers"},                          # torch.nn layers, encoders, layer kinds
    {"model", "data"},                   # LogicNet and its files; datasets (which fit encoders)
    {"lowering"},                        # trained model -> circuit
    {"training", "verification"},        # the loop; agreement checks and equivalence proofs
    {"runs"},                            # the run directory every command reads
    {"flows"},                           # one orchestration module per hardware command
    {"cli"},                             # the gatelearn command
]
TORCH_FREE = ("circuit", "backends")    # and everything they import (checked in a subprocess)
LEVEL = {name: i for i, names in enumerate(LAYERS) for name in names}


def _top(module: str) -> str | None:
    """gatelearn.X.Y -> X (None for modules outside gatelearn)."""
    parts = module.split(".")
    return parts[1] if parts[0] == "gatelearn" and len(parts) > 1 else None


def _imports(file: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import of ``file`` that names a gatelearn module."""
    rel = file.relative_to(PACKAGE.parent).with_suffix("")
    pkg = list(rel.parts[:-1])            # the package a relative import starts from
    out = []
    for node in ast.walk(ast.parse(file.read_text(), str(file))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[:len(pkg) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
                if node.module is None:        # from . import x, y: each name may be a module
                    out += [(node.lineno, f"{mod}.{a.name}") for a in node.names]
                    continue
            else:
                mod = node.module or ""
            out.append((node.lineno, mod))
    return out


def _package_files():
    for file in sorted(PACKAGE.rglob("*.py")):
        rel = file.relative_to(PACKAGE)
        if rel.parts == ("__init__.py",):
            continue            # the package facade: lazy re-exports of the public names
        yield file, rel.parts[0].removesuffix(".py")


def test_every_module_is_on_a_layer():
    unknown = sorted({top for _, top in _package_files()} - set(LEVEL))
    assert not unknown, f"modules of gatelearn on no layer (add them to LAYERS): {unknown}"


def test_imports_only_go_down():
    bad = []
    for file, top in _package_files():
        for line, mod in _imports(file):
            dep = _top(mod)
            if dep is None or dep == top:
                continue
            if dep not in LEVEL or top not in LEVEL:
                continue        # reported by test_every_module_is_on_a_layer
            if LEVEL[dep] >= LEVEL[top]:
                bad.append(f"{file.relative_to(PACKAGE.parent)}:{line} ({top}, layer {LEVEL[top]}) imports "
                           f"{mod} (layer {LEVEL[dep]})")
    assert not bad, "imports that do not go down the layers:\n" + "\n".join(bad)


def test_compiler_half_imports_no_torch_directly():
    bad = []
    for file, top in _package_files():
        if top not in TORCH_FREE:
            continue
        for line, mod in _imports(file):
            if mod.split(".")[0] == "torch":
                bad.append(f"{file.relative_to(PACKAGE.parent)}:{line} imports {mod}")
    assert not bad, "\n".join(bad)


def test_compiler_half_works_without_torch(tmp_path):
    """With torch made unimportable, every module of the circuit half and the emitters imports,
    and a circuit is simulated, optimised, saved, loaded and emitted."""
    script = textwrap.dedent("""
        import importlib, pkgutil, sys

        class NoTorch:
            def find_spec(self, name, path=None, target=None):
                if name == "torch" or name.startswith("torch."):
                    raise ImportError("torch is hidden for this test")
        sys.meta_path.insert(0, NoTorch())

        import numpy as np
        import gatelearn
        from gatelearn.circuit import Circuit, Head, optimize
        for pkg in ("gatelearn.circuit", "gatelearn.backends"):
            mod = importlib.import_module(pkg)
            for info in pkgutil.walk_packages(mod.__path__, pkg + "."):
                importlib.import_module(info.name)
        from gatelearn.gates import BY_NAME
        AND, XOR = BY_NAME["AND"].id, BY_NAME["XOR"].id
        c = Circuit(3, [AND, XOR, AND], [0, 1, 3], [1, 2, 4], [3, 4, 5, 5], Head(2, 1.0)).validate()
        bits = ((np.arange(8)[:, None] >> np.arange(3)) & 1).astype(bool)
        out = c.simulate(bits)
        assert (out[:, 1] == (bits[:, 1] ^ bits[:, 2])).all()
        d, _ = optimize(c)
        assert (d.simulate(bits) == out).all()
        d.save(sys.argv[1])
        assert (Circuit.load(sys.argv[1]).simulate(bits) == out).all()
        from gatelearn.backends import aiger, blif
        assert blif.parse_blif(blif.blif_text(d)).simulate(bits).tolist() == out.tolist()
        assert aiger.parse_aiger(aiger.aiger_bytes(d)).simulate(bits).tolist() == out.tolist()
        assert "torch" not in sys.modules
        print("ok")
    """)
    r = subprocess.run([sys.executable, "-c", script, str(tmp_path / "c.npz")], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stdout + r.stderr


def test_a_new_layer_kind_is_one_registration():
    """Declaring a kind once (name, class, builder, lowering, defaults) is all it takes: models
    build it from a spec, presets fill in its defaults, and the lowering turns it into gates that
    compute what the model computes."""
    import numpy as np
    import torch
    from torch import nn

    from gatelearn.gates import BY_NAME
    from gatelearn.layers import kinds
    from gatelearn.lowering import lower
    from gatelearn.model import build_model
    from gatelearn.training.presets import layer_specs

    class Negate(nn.Module):
        """Every bit negated (1 - x, exact on bits and a valid relaxation)."""
        def forward(self, x):
            return 1.0 - x

    def build(spec, in_shape, seed):
        return Negate(), in_shape

    def lower_negate(module, builder, nodes):
        flat = nodes.reshape(-1)
        return builder.add_gates(np.full(flat.size, BY_NAME["NOT_A"].id), flat, flat).reshape(nodes.shape)

    kinds.register(kinds.LayerKind("negate", Negate, build, lower_negate, defaults={"note": "x"}))
    try:
        assert layer_specs({"layers": [{"kind": "negate"}]}) == [{"note": "x", "kind": "negate"}]
        model = build_model({"encoder": {"kind": "bits", "features": 6},
                             "layers": [{"kind": "negate"}, {"kind": "logic", "out": 8}],
                             "head": {"kind": "groupsum", "classes": 2, "tau": 1.0}, "seed": 1}).eval()
        c = lower(model)
        bits = ((np.arange(64)[:, None] >> np.arange(6)) & 1).astype(bool)
        counts = c.class_counts(c.simulate(bits))
        with torch.no_grad():
            want = model(torch.from_numpy(bits.astype(np.float32))).numpy()
        assert np.array_equal(counts, want)
    finally:
        del kinds.KINDS["negate"]

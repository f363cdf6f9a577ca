"""Port names through import, every writer and ``gatelearn export``, and the plain Verilog of a
circuit without a GroupSum head (issue #25, part 1).

The sources are written here: a full adder with extras as binary AIGER and as BLIF, under names
no format's default would give (``b[0]``, ``carry.out``, ``1st``, a Verilog keyword, ``g0`` which
is also how the writers name gates). The real tools judge the files: ABC's ``cec`` matching ports
by name (a name that differs is a failed proof, see the negative control), yosys reading the
Verilog, Icarus Verilog running it against ``Circuit.simulate``."""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from gatelearn.backends import aiger, blif, emit
from gatelearn.backends.common import blif_name, unmangle, verilog_identifier, verilog_text, yosys_blif_name
from gatelearn.backends.verilog import NetSpec, module_name
from gatelearn.circuit.ir import Circuit
from gatelearn.circuit.random import random_circuit
from gatelearn.cli.main import main
from gatelearn.errors import InputError
from gatelearn.tools import abc, sim, yosys

needs_abc = pytest.mark.skipif(not abc.available(), reason="ABC (apt-get install berkeley-abc) is not installed")
needs_yosys = pytest.mark.skipif(not yosys.available(), reason="yosys (apt-get install yosys) is not installed")
needs_iverilog = pytest.mark.skipif(not sim.available("iverilog"),
                                    reason="Icarus Verilog (apt-get install iverilog) is not installed")
needs_verilator = pytest.mark.skipif(not sim.available("verilator"),
                                     reason="Verilator (apt-get install verilator) is not installed")

IN_NAMES = ["a", "b[0]", "1st", "cin"]
OUT_NAMES = ["sum", "carry.out", "logic", "g0", "a.copy"]

SOURCE_BLIF = """# a full adder of a, b[0] and 1st, and extras
.model full.adder
.inputs a b[0] 1st cin
.outputs sum carry.out logic g0 a.copy
.names a b[0] 1st sum
100 1
010 1
001 1
111 1
.names a b[0] 1st carry.out
11- 1
1-1 1
-11 1
.names cin logic
0 1
.names a cin g0
11 1
.names a a.copy
1 1
.end
"""

# The same function as AND nodes (lhs, rhs0, rhs1), in the order binary AIGER needs: variables
# 1..4 are the inputs (literals 2, 4, 6, 8), node k is variable 5 + k.
SOURCE_ANDS = [(10, 4, 2),      # a & b
               (12, 5, 3),      # ~a & ~b
               (14, 13, 11),    # a ^ b
               (16, 14, 6),     # (a ^ b) & 1st
               (18, 15, 7),     # ~(a ^ b) & ~1st
               (20, 19, 17),    # sum = a ^ b ^ 1st
               (22, 17, 11),    # ~carry
               (24, 8, 2)]      # a & cin
SOURCE_OUTPUTS = [20, 23, 9, 24, 2]     # sum, carry.out, logic = ~cin, g0 = a & cin, a.copy = a


def binary_aiger(num_inputs: int, ands, outputs, in_names, out_names, comment: bytes = b"") -> bytes:
    """Binary AIGER written independently of gatelearn's writer: deltas as 7-bit groups."""
    M = num_inputs + len(ands)
    data = bytearray(f"aig {M} {num_inputs} 0 {len(outputs)} {len(ands)}\n".encode())
    data += "".join(f"{o}\n" for o in outputs).encode()
    for lhs, r0, r1 in ands:
        for delta in (lhs - r0, r0 - r1):
            while delta >= 0x80:
                data.append(delta & 0x7F | 0x80)
                delta >>= 7
            data.append(delta)
    data += "".join(f"i{i} {n}\n" for i, n in enumerate(in_names)).encode()
    data += "".join(f"o{i} {n}\n" for i, n in enumerate(out_names)).encode()
    return bytes(data) + (b"c\n" + comment if comment else b"")


def expected(bits: np.ndarray) -> np.ndarray:
    """The sources' outputs, computed here without any reader or simulator."""
    a, b, first, cin = bits.T
    return np.stack([a ^ b ^ first, (a & b) | (a & first) | (b & first), ~cin, a & cin, a], axis=1)


def all_bits(n: int) -> np.ndarray:
    return ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1).astype(bool)


@pytest.fixture
def sources(tmp_path) -> dict[str, Path]:
    files = {"aig": tmp_path / "fa.aig", "blif": tmp_path / "fa.blif"}
    files["aig"].write_bytes(binary_aiger(4, SOURCE_ANDS, SOURCE_OUTPUTS, IN_NAMES, OUT_NAMES,
                                          b"full adder\x00\nwritten by the test\n"))
    files["blif"].write_text(SOURCE_BLIF)
    return files


def read(path: Path) -> Circuit:
    return aiger.read_aiger(path) if path.suffix == ".aig" else blif.read_blif(path)


def name_mismatches(c: Circuit) -> int:
    """Ports whose name differs from the sources' (0 when every one is kept)."""
    return sum(x != y for x, y in zip(c.input_names + c.output_names, IN_NAMES + OUT_NAMES)) + \
        abs(len(c.input_names + c.output_names) - len(IN_NAMES + OUT_NAMES))


# ------------------------------------------------------------------------------ readers and writers
@pytest.mark.parametrize("fmt, name", [("aig", "full adder"), ("blif", "full.adder")])
def test_import_keeps_the_names_and_every_writer_writes_them(sources, tmp_path, fmt, name):
    c = read(sources[fmt])
    assert name_mismatches(c) == 0 and c.name == name
    assert (c.simulate(all_bits(4)) == expected(all_bits(4))).all()
    # through the IR file, then each writer, then read back: names, circuit name and function kept
    c.save(tmp_path / "c.npz")
    c = Circuit.load(tmp_path / "c.npz")
    aig = emit(c, "aiger", "re").write(tmp_path)["re.aig"]
    bl = emit(c, "blif", "re").write(tmp_path)["re.blif"]
    # a BLIF name cannot hold a space: the model is "full%20adder", the comment says whose name it is
    assert f".model {blif_name(name)}\n.inputs a b[0] 1st cin\n.outputs sum carry.out logic g0 a.copy\n" \
        in bl.read_text()
    for back in (aiger.read_aiger(aig), blif.read_blif(bl)):
        assert name_mismatches(back) == 0 and back.name == name
        assert (back.simulate(all_bits(4)) == expected(all_bits(4))).all()


@needs_abc
@pytest.mark.parametrize("fmt", ["aig", "blif"])
def test_reexports_are_proven_equal_to_both_sources_by_name(sources, tmp_path, fmt):
    c = Circuit.load(read(sources[fmt]).save(tmp_path / "c.npz"))
    files = [emit(c, "aiger", "re").write(tmp_path)["re.aig"], emit(c, "blif", "re").write(tmp_path)["re.blif"]]
    for f in files:
        for src in sources.values():
            r = abc.cec(src, f)          # ports matched by name, not by order
            assert r.equivalent is True, f"{f.name} vs {src.name}:\n{r.log[-800:]}"
    # negative control: the same network under the default names i<k> / o<k> is no proof by name
    unnamed = c.copy()
    unnamed.meta = {}
    f = emit(unnamed, "aiger", "unnamed").write(tmp_path)["unnamed.aig"]
    assert abc.cec(sources[fmt], f).equivalent is False
    assert abc.cec(sources[fmt], f, by_order=True).equivalent is True


def test_an_unnamed_circuit_keeps_the_default_names():
    c = random_circuit(np.random.default_rng(0), 3, 10, 2, 1)
    text = blif.blif_text(c)
    assert ".model gatelearn_net\n.inputs i0 i1 i2\n.outputs o0 o1\n" in text
    back = aiger.parse_aiger(aiger.aiger_bytes(c))
    assert back.input_names == ["i0", "i1", "i2"] and back.output_names == ["o0", "o1"] and back.name is None


# ------------------------------------------------------------------------------ names a format cannot hold
ODD = ["c in", "x\ny", "é", "a#b", "tail\\", "50%", "1st"]


def odd_circuit() -> Circuit:
    c = random_circuit(np.random.default_rng(1), len(ODD), 30, 1, len(ODD), locality=8)
    c.head = None
    c.meta = {"input_names": ODD, "output_names": [f"out {n}" for n in ODD], "name": "odd names"}
    return c.validate()


def test_names_a_format_cannot_hold_are_mangled_reversibly():
    c = odd_circuit()
    assert blif_name("c in") == "c%20in" and blif_name("a#b") == "a%23b" and blif_name("tail\\") == "tail%5C"
    assert blif_name("a[3]") == "a[3]" and blif_name("é") == "é" and blif_name("50%") == "50%"
    assert verilog_text("é") == "%C3%A9" and verilog_text("a#b") == "a#b" and verilog_text("x\ny") == "x%0Ay"
    assert [unmangle(blif_name(n)) for n in ODD if blif_name(n) != n] == [n for n in ODD if blif_name(n) != n]
    assert verilog_identifier("a[3]") == "\\a[3] " and verilog_identifier("logic") == "\\logic "
    assert verilog_identifier("carry_out$") == "carry_out$"
    # the readers take the mangled names back from the writers' comments
    for back in (blif.parse_blif(blif.blif_text(c)), aiger.parse_aiger(aiger.aiger_bytes(c))):
        assert back.input_names == c.input_names and back.output_names == c.output_names
    text = emit(c, "verilog", "odd").files["odd.v"]
    assert "input wire \\c%20in ," in text and "output wire \\out%20x%0Ay ," in text
    listed = json.loads(re.search(r"gatelearn names: (.*)", text).group(1))
    assert listed["c%20in"] == "c in" and listed["%C3%A9"] == "é"


@needs_yosys
def test_yosys_reads_every_name_as_the_circuit_has_it(tmp_path):
    for c in (odd_circuit(), named_random_circuit(3)):
        design = emit(c, "verilog", "dut", pipeline=2)
        spec = design.info["spec"]
        netlist = yosys.to_blif([design.write(tmp_path)["dut.v"]], "dut", tmp_path / "y.blif")
        synth = blif.parse_blif(netlist.read_text(), latches="transparent")
        control = [spec.clock, spec.reset, spec.in_valid]
        assert sorted(synth.input_names) == sorted(yosys_blif_name(t) for t in spec.inputs + control)
        assert sorted(synth.output_names) == sorted(yosys_blif_name(t) for t in spec.outputs + [spec.out_valid])


@pytest.mark.parametrize("inputs, outputs, node, errors", [
    # an output called like an input it is not: no format but AIGER can write that
    (["q", "r"], ["q"], 1, {"verilog": "an input and an output cannot have one name",
                            "blif": "an output may only have the name of the input it is"}),
    # an output called like the input it is: one BLIF net, but two Verilog ports
    (["q", "r"], ["q"], 0, {"verilog": "an input and an output cannot have one name"}),
    (["q", "r"], ["f", "f"], 0, {"verilog": "needs distinct output names", "blif": "needs distinct output names"}),
    # two names one mangled text would stand for
    (["c in", "c%20in"], ["f"], 0, {"verilog": "would both be written 'c%20in'", "blif": "would both be written"}),
    (["c in", "r"], ["c%20in"], 1, {"verilog": "would both be written 'c%20in'", "blif": "would both be written"}),
])
def test_port_names_a_format_cannot_tell_apart_are_one_clear_error(inputs, outputs, node, errors):
    c = Circuit(2, np.zeros(0, np.uint8), np.zeros(0), np.zeros(0), np.full(len(outputs), node),
                meta={"input_names": inputs, "output_names": outputs}).validate()
    for target, msg in errors.items():
        with pytest.raises(InputError, match=re.escape(msg)):
            emit(c, target, "m")
    for target in {"verilog", "blif"} - set(errors):
        assert emit(c, target, "m").files
    # AIGER keeps inputs and outputs in separate symbol tables and a symbol may repeat: all written
    back = aiger.parse_aiger(aiger.aiger_bytes(c))
    assert back.input_names == inputs and back.output_names == outputs


def test_blif_output_may_be_the_input_of_its_name():
    c = Circuit(2, np.zeros(0, np.uint8), np.zeros(0), np.zeros(0), np.array([0]),
                meta={"input_names": ["q", "r"], "output_names": ["q"]})
    text = blif.blif_text(c)
    assert ".inputs q r\n.outputs q\n.end" in text
    assert blif.parse_blif(text).output_names == ["q"]


def test_module_names_from_the_circuit():
    def named(name):
        return Circuit(0, np.zeros(0, np.uint8), np.zeros(0), np.zeros(0), np.zeros(0), meta={"name": name})
    assert module_name(named("full adder")) == "full_adder"
    assert module_name(named("1st.mod")) == "_1st_mod"
    assert module_name(named("module")) == "module_"
    assert module_name(named("é" * 300)) == "_" * 64         # room for _pipe<N> and _tb
    assert module_name(named(None)) == "gatelearn_model"


# ------------------------------------------------------------------------------ Verilog of a plain circuit
def rename_yosys_ports(text: str, spec: NetSpec) -> str:
    """yosys's BLIF with its port names turned back into the circuit's (yosys keeps the escape of
    a name that starts with a digit, ``\\1st``: :func:`yosys_blif_name`)."""
    back = {yosys_blif_name(t): spec.mangled.get(t, t) for t in spec.inputs + spec.outputs}
    lines = []
    for line in text.splitlines():
        if line.startswith((".inputs", ".outputs", ".names", ".latch")):
            line = " ".join(back.get(tok, tok) for tok in line.split())
        lines.append(line)
    return "\n".join(lines) + "\n"


@needs_abc
@needs_yosys
def test_verilog_read_by_yosys_is_the_source_by_name(sources, tmp_path):
    c = read(sources["blif"])
    design = emit(c, "verilog", module_name(c))
    spec = design.info["spec"]
    assert design.name == "full_adder" and spec.inputs == IN_NAMES and spec.outputs == OUT_NAMES
    v = design.write(tmp_path)["full_adder.v"]
    synth = yosys.to_blif([v], "full_adder", tmp_path / "yosys.blif")
    renamed = tmp_path / "yosys_renamed.blif"
    renamed.write_text(rename_yosys_ports(synth.read_text(), spec))
    for src in sources.values():
        r = abc.cec(src, renamed)
        assert r.equivalent is True, r.log[-800:]


@needs_abc
@needs_yosys
@pytest.mark.parametrize("pipeline", [1, 2])
def test_pipelined_verilog_is_balanced_and_the_source_by_name(sources, tmp_path, pipeline):
    c = read(sources["blif"])
    design = emit(c, "verilog", "fa_pipe", pipeline=pipeline)
    spec = design.info["spec"]
    assert spec.latency == -(-c.depth() // pipeline) and (spec.clock, spec.out_valid) == ("clk", "out_valid")
    synth = yosys.to_blif([design.write(tmp_path)["fa_pipe.v"]], "fa_pipe", tmp_path / "yosys.blif")
    # registers transparent: every output exactly LATENCY registers behind the inputs
    t = blif.parse_blif(rename_yosys_ports(synth.read_text(), spec), "yosys.blif", latches="transparent")
    lat = dict(zip(t.output_names, t.meta["output_latency"]))
    assert all(lat[n] == [spec.latency] for n in OUT_NAMES)
    # in_valid is LATENCY registers behind (rst reaches the valid pipe at every stage: shorter paths)
    assert max(lat["out_valid"]) == spec.latency
    data = [t.output_names.index(n) for n in OUT_NAMES]
    t.outputs = t.outputs[data]
    impl = tmp_path / "transparent.aig"
    impl.write_bytes(aiger.aiger_bytes(t, output_names=OUT_NAMES))
    # the source with the control inputs added (unused): the interfaces then match name for name
    src = tmp_path / "source_with_control.blif"
    src.write_text(SOURCE_BLIF.replace(".inputs a b[0] 1st cin", ".inputs a b[0] 1st cin clk rst in_valid"))
    r = abc.cec(src, impl)
    assert r.equivalent is True, r.log[-800:]


def named_random_circuit(seed: int) -> Circuit:
    """A deep random plain circuit whose port names need escaping or clash with the module's own
    names (constants, inputs and repeated nodes among its outputs)."""
    c = random_circuit(np.random.default_rng(seed), 9, 120, 1, 10, locality=12)
    c.head = None
    c.meta = {"input_names": ["clk", "b[0]", "1st", "g3", "net_q", "x.y", "module", "r1_2", "c in"],
              "output_names": ["rst", "out_valid", "g0", "o[3]", "LATENCY", "2nd", "valid_pipe", "s$", "p.q", "in"]}
    return c.validate()


def run_testbench(tmp_path: Path, c: Circuit, pipeline: int, bits: np.ndarray, simulator: str = "iverilog"
                  ) -> np.ndarray:
    """The emitted module run by ``simulator`` on the rows of ``bits``: its outputs per row."""
    design = emit(c, "verilog", "dut", pipeline=pipeline)
    spec = design.info["spec"]
    design.write(tmp_path)
    N, O, V = c.num_inputs, c.num_outputs, len(bits)
    (tmp_path / "vectors.txt").write_text("".join("".join("1" if b else "0" for b in row[::-1]) + "\n"
                                                  for row in bits))
    ports = [f".{verilog_identifier(t)}(x[{i}])" for i, t in enumerate(spec.inputs)] + \
            [f".{verilog_identifier(t)}(y[{k}])" for k, t in enumerate(spec.outputs)]
    tb = ["`timescale 1ns/1ps", "module tb;", f"  reg [{N - 1}:0] x;", f"  wire [{O - 1}:0] y;",
          f"  reg [{N - 1}:0] mem [0:{V - 1}];", "  integer i;"]
    if not pipeline:
        tb += [f"  dut d({', '.join(ports)});", "  initial begin", '    $readmemb("vectors.txt", mem);',
               f"    for (i = 0; i < {V}; i = i + 1) begin x = mem[i]; #1 $display(\"OUT %b\", y); end"]
    else:
        control = [f".{spec.clock}(clk)", f".{spec.reset}(rst)", f".{spec.in_valid}(iv)", f".{spec.out_valid}(ov)"]
        tb += ["  reg clk = 1'b0, rst = 1'b1, iv = 1'b0;", "  wire ov;", "  always #5 clk = ~clk;",
               f"  dut d({', '.join(control + ports)});", "  initial begin", '    $readmemb("vectors.txt", mem);',
               "    x = 0; repeat (2) @(posedge clk);", "    @(negedge clk) rst = 1'b0;",
               f"    for (i = 0; i < {V + spec.latency + 2}; i = i + 1) begin",
               f"      if (i < {V}) begin x = mem[i]; iv = 1'b1; end else iv = 1'b0;",
               '      @(posedge clk); #1 if (ov) $display("OUT %0d %b", i, y);',
               "      @(negedge clk);", "    end"]
    tb += ["    $finish;", "  end", "endmodule", ""]
    (tmp_path / "tb.v").write_text("\n".join(tb))
    log = sim.simulate([tmp_path / "dut.v", tmp_path / "tb.v"], "tb", workdir=tmp_path, simulator=simulator,
                       timeout=300)
    rows = [line.split()[1:] for line in log.splitlines() if line.startswith("OUT ")]
    if pipeline:
        # input j is taken at the rising edge of iteration j and its result registered LATENCY - 1
        # edges later: with one input per cycle it shows in iteration j + LATENCY - 1
        assert [int(r[0]) for r in rows] == [j + spec.latency - 1 for j in range(V)], log[-800:]
        rows = [r[1:] for r in rows]
    return np.array([[ch == "1" for ch in r[0][::-1]] for r in rows], bool).reshape(-1, O)


@pytest.mark.parametrize("simulator, pipeline", [
    pytest.param("iverilog", 0, marks=needs_iverilog), pytest.param("iverilog", 1, marks=needs_iverilog),
    pytest.param("iverilog", 3, marks=needs_iverilog), pytest.param("verilator", 2, marks=needs_verilator)])
def test_verilog_simulates_as_the_circuit(tmp_path, simulator, pipeline):
    c = named_random_circuit(7)
    assert c.depth() >= 6
    bits = np.random.default_rng(pipeline).random((40, c.num_inputs)) < 0.5
    got = run_testbench(tmp_path, c, pipeline, bits, simulator)
    assert got.shape == (len(bits), c.num_outputs) and (got == c.simulate(bits)).all()


@needs_iverilog
def test_imported_source_verilog_simulates_as_the_source(sources, tmp_path):
    c = read(sources["aig"])
    got = run_testbench(tmp_path, c, 0, all_bits(4))
    assert (got == expected(all_bits(4))).all()


def test_every_internal_name_moves_aside_for_a_port():
    c = named_random_circuit(7)
    spec = emit(c, "verilog", "dut", pipeline=2).info["spec"]
    assert (spec.clock, spec.reset, spec.in_valid, spec.out_valid) == ("gl_clk", "gl_rst", "gl_in_valid",
                                                                       "gl_out_valid")
    text = emit(c, "verilog", "dut", pipeline=2).files["dut.v"]
    declared = re.findall(r"^\s*(?:wire|reg|localparam)(?: \[\d+:\d+\])? ([A-Za-z_][A-Za-z0-9_$]*)", text, re.M)
    assert declared and not set(declared) & set(spec.inputs + spec.outputs)
    assert all(d.startswith("gl_") for d in declared)


# ------------------------------------------------------------------------------ gatelearn export
def cli(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_export_of_a_circuit_file(sources, tmp_path, capsys):
    out = tmp_path / "out"
    code, text, err = cli(capsys, "export", sources["blif"], "--out", out, "--pipeline", "2")
    assert code == 0, err
    files = {"full_adder.v", "full_adder_pipe2.v", "net.aig", "net.blif", "manifest.json"}
    assert files <= {p.name for p in out.iterdir()}
    manifest = json.loads((out / "manifest.json").read_text())
    kinds = {e["file"]: e["kind"] for e in manifest["artifacts"]}
    assert kinds == {"full_adder.v": "verilog_netlist", "full_adder_pipe2.v": "verilog_netlist", "net.aig": "aiger",
                     "net.blif": "blif"}
    pipe = next(e for e in manifest["artifacts"] if e["file"] == "full_adder_pipe2.v")
    assert pipe["spec"]["inputs"] == IN_NAMES and pipe["spec"]["outputs"] == OUT_NAMES
    assert pipe["spec"]["latency"] == 3 and pipe["source"] == str(sources["blif"])
    assert f"{out}/full_adder_pipe2.v" in text
    # the IR file of an import exports the same way, into its own folder
    assert cli(capsys, "import", sources["aig"], tmp_path / "fa.npz")[0] == 0
    code, _, err = cli(capsys, "export", tmp_path / "fa.npz", "--out", tmp_path / "npz", "--json")
    assert code == 0, err
    assert {"full_adder.v", "net.aig", "net.blif", "manifest.json"} <= {p.name for p in (tmp_path / "npz").iterdir()}
    assert name_mismatches(aiger.read_aiger(tmp_path / "npz" / "net.aig")) == 0


@needs_abc
def test_exported_netlists_are_the_source_by_name(sources, tmp_path, capsys):
    folder = tmp_path / "imported"
    assert cli(capsys, "import", sources["aig"], folder)[0] == 0
    code, _, err = cli(capsys, "export", folder)
    assert code == 0, err
    art = folder / "artifacts"
    assert {"full_adder.v", "net.aig", "net.blif", "manifest.json"} <= {p.name for p in art.iterdir()}
    for f in (art / "net.aig", art / "net.blif"):
        for src in sources.values():
            assert abc.cec(src, f).equivalent is True


@pytest.mark.parametrize("argv, msg", [
    (["export", "{tmp}/missing.blif", "--out", "{tmp}/o"], "missing.blif does not exist"),
    (["export", "{blif}"], "is a circuit file: give --out DIR"),
    (["export", "{tmp}/notes.txt", "--out", "{tmp}/o"], "not a run directory or a circuit file"),
    (["export", "{tmp}", "--out", "{tmp}/o"], "--out is for a circuit file"),
    (["export", "{blif}", "--out", "{tmp}/notes.txt"], "is a file; give a folder"),
    (["export", "{blif}", "--out", "{tmp}/o", "--frac-bits", "2"], "this circuit has no GroupSum head"),
    (["export", "{blif}", "--out", "{tmp}/o", "--name", "module"], "is a Verilog / SystemVerilog keyword"),
    (["export", "{bad}", "--out", "{tmp}/o"], "line 2"),
])
def test_export_bad_input_is_one_line(sources, tmp_path, capsys, argv, msg):
    (tmp_path / "notes.txt").write_text("not a circuit\n")
    (tmp_path / "bad.blif").write_text(".model m\n.latch a b\n.end\n")
    code, out, err = cli(capsys, *(a.format(tmp=tmp_path, blif=sources["blif"], bad=tmp_path / "bad.blif")
                                   for a in argv))
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and msg in lines[0], err
    assert not (tmp_path / "o").exists()

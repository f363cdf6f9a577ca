"""Every command takes an imported or plain circuit (issue #25): a folder made by ``gatelearn
import``, the .npz it writes, or the .aig / .aag / .blif file itself. The circuits are written
here: a 3-bit ripple-carry adder as binary AIGER and as ASCII AIGER (its inputs on shuffled
variables, with a symbol table), and a BLIF with four outputs and don't-care rows. Their
functions are computed in Python too, so predict is checked against arithmetic, not only against
the simulator."""
from __future__ import annotations

import contextlib
import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from gatelearn import runs
from gatelearn.backends.aiger import AigBuilder
from gatelearn.circuit.ir import Circuit
from gatelearn.cli.main import main
from gatelearn.errors import FileFormatError, InputError
from gatelearn.tools import abc, yosys

needs_abc = pytest.mark.skipif(not abc.available(), reason="ABC (apt-get install berkeley-abc) is not installed")
needs_yosys = pytest.mark.skipif(not yosys.available(), reason="yosys (apt-get install yosys) is not installed")

N = 3                                   # adder width: inputs a0..a2, b0..b2; outputs s0..s3


def cli(*argv) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``gatelearn ARGV`` run in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue(), err.getvalue()


def one_line(code: int, err: str, want: int, *words: str) -> None:
    assert code == want, err
    assert "Traceback" not in err and err.count("\n") == 1, err
    for w in words:
        assert w in err, (w, err)


# ------------------------------------------------------------------------------ the circuits
def _adder(new_and) -> list[int]:
    """Output literals of an N-bit ripple-carry adder over input literals 2, 4, ... (a then b),
    built with ``new_and(x, y) -> literal``."""
    def xor(x, y):
        return new_and(new_and(x, y ^ 1) ^ 1, new_and(x ^ 1, y) ^ 1) ^ 1
    a, b = [2 * (i + 1) for i in range(N)], [2 * (N + i + 1) for i in range(N)]
    carry, outs = 0, []
    for i in range(N):
        t = xor(a[i], b[i])
        outs.append(xor(t, carry))
        carry = new_and(new_and(a[i], b[i]) ^ 1, new_and(t, carry) ^ 1) ^ 1
    return outs + [carry]


def adder_aig() -> bytes:
    """Binary AIGER with symbols a0.., b0.., s0.."""
    b = AigBuilder(2 * N)
    outs = _adder(b.and_)
    return b.to_bytes(outs, [f"a{i}" for i in range(N)] + [f"b{i}" for i in range(N)],
                      [f"s{k}" for k in range(N + 1)], "adder")


def adder_aag() -> str:
    """ASCII AIGER of the same adder, its inputs on shuffled variable numbers (ASCII AIGER allows
    that; the i-th input line is input i whatever its variable) and a symbol table, which yosys,
    the reader verify uses for .aag, would otherwise order the ports by."""
    perm = [4, 1, 6, 3, 5, 2]                       # input k lives on variable perm[k]
    ands, nxt = [], [2 * N + 1]

    def new_and(x, y):
        lit = 2 * nxt[0]
        nxt[0] += 1
        ands.append((lit, x, y))
        return lit

    def var(lit):        # input literal 2(k+1) -> its shuffled variable; gate literals stay
        v = lit >> 1
        return (2 * perm[v - 1] | (lit & 1)) if 1 <= v <= 2 * N else lit
    outs = _adder(new_and)
    lines = [f"aag {nxt[0] - 1} {2 * N} 0 {len(outs)} {len(ands)}"]
    lines += [str(2 * perm[k]) for k in range(2 * N)] + [str(var(o)) for o in outs]
    lines += [f"{lhs} {var(x)} {var(y)}" for lhs, x, y in ands]
    lines += [f"i{i} a{i}" for i in range(N)] + [f"i{N + i} b{i}" for i in range(N)]
    lines += [f"o{k} s{k}" for k in range(N + 1)] + ["c", "adder, ASCII"]
    return "\n".join(lines) + "\n"


MULTI_BLIF = """# four outputs, a don't-care row, a constant-free cover and an inverter
.model multi
.inputs x y z sel
.outputs m eq any none
.names x y sel m
1-0 1
-11 1
.names x y eq
00 1
11 1
.names x y z any
1-- 1
-1- 1
--1 1
.names any none
0 1
.end
"""


def adder_expected(bits: np.ndarray) -> np.ndarray:
    """s0..sN of a + b for rows a0..a2 b0..b2 (least significant bit first)."""
    w = 1 << np.arange(N)
    total = bits[:, :N] @ w + bits[:, N:] @ w
    return (total[:, None] >> np.arange(N + 1)) & 1


def multi_expected(bits: np.ndarray) -> np.ndarray:
    x, y, z, sel = bits.T
    m = np.where(sel == 1, y, x)
    anyv = x | y | z
    return np.stack([m, (x == y).astype(int), anyv, 1 - anyv], 1)


ALL_ADDER_ROWS = ((np.arange(1 << (2 * N))[:, None] >> np.arange(2 * N)) & 1).astype(np.uint8)
ALL_MULTI_ROWS = ((np.arange(16)[:, None] >> np.arange(4)) & 1).astype(np.uint8)


@pytest.fixture
def files(tmp_path) -> dict[str, Path]:
    (tmp_path / "adder.aig").write_bytes(adder_aig())
    (tmp_path / "adder.aag").write_text(adder_aag())
    (tmp_path / "multi.blif").write_text(MULTI_BLIF)
    return {"aig": tmp_path / "adder.aig", "aag": tmp_path / "adder.aag", "blif": tmp_path / "multi.blif"}


@pytest.fixture
def adder(files, tmp_path) -> dict[str, Path]:
    """The adder three ways: an import folder, an imported .npz and the .aig itself."""
    assert cli("import", files["aig"], tmp_path / "adder_run")[0] == 0
    assert cli("import", files["aig"], tmp_path / "adder.npz")[0] == 0
    return {"folder": tmp_path / "adder_run", "npz": tmp_path / "adder.npz", "aig": files["aig"]}


def test_the_test_circuits_compute_what_they_claim(files):
    """The readers and the Python functions agree, so the later checks test the commands."""
    for key in ("aig", "aag"):
        c = runs.read_source(files[key])
        assert c.input_names == ["a0", "a1", "a2", "b0", "b1", "b2"], key
        assert np.array_equal(c.simulate(ALL_ADDER_ROWS.astype(bool)), adder_expected(ALL_ADDER_ROWS)), key
    c = runs.read_source(files["blif"])
    assert np.array_equal(c.simulate(ALL_MULTI_ROWS.astype(bool)), multi_expected(ALL_MULTI_ROWS))


# ------------------------------------------------------------------------------ import, load_any_circuit
def test_import_to_a_folder_and_to_a_file(files, tmp_path):
    code, out, err = cli("import", files["aag"], tmp_path / "run", "--json")
    assert code == 0, err
    rep = json.loads(out)
    assert rep["folder"] and rep["inputs"] == 6 and rep["outputs"] == 4 and rep["format"] == "aiger"
    run = tmp_path / "run"
    info = json.loads((run / runs.IMPORT_FILE).read_text())
    assert info["file"] == "source.aag" and info["source_format"] == "aiger"
    assert info["original"] == str(files["aag"].resolve())
    assert (run / "source.aag").read_bytes() == files["aag"].read_bytes()
    c, source = runs.load_any_circuit(run)
    assert source == run / "source.aag" and c.head is None and c.encoder is None
    assert np.array_equal(c.simulate(ALL_ADDER_ROWS.astype(bool)), adder_expected(ALL_ADDER_ROWS))

    # as today: OUT.npz is a circuit file, which now records the file it came from
    code, out, err = cli("import", files["blif"], tmp_path / "m.npz")
    assert code == 0, err
    assert out.splitlines()[0].split()[0] == "read"
    c, source = runs.load_any_circuit(tmp_path / "m.npz")
    assert source == files["blif"].resolve() and c.num_outputs == 4

    # a folder that holds anything is refused (a trained run above all), as is OUT.aig
    one_line(*cli("import", files["aig"], run)[::2], 2, str(run), "not empty")
    one_line(*cli("import", files["aig"], tmp_path / "x.aig")[::2], 2, "x.aig", "export")
    one_line(*cli("import", tmp_path / "nothing.aig", tmp_path / "r2")[::2], 2, "nothing.aig")
    assert not (tmp_path / "r2").exists()


def test_load_any_circuit_reads_every_kind_of_path(adder, files, tmp_path):
    by_folder, src = runs.load_any_circuit(adder["folder"])
    assert src == adder["folder"] / "source.aig"
    by_npz, src = runs.load_any_circuit(adder["npz"])
    assert src == files["aig"].resolve()
    by_file, src = runs.load_any_circuit(files["aig"])
    assert src == files["aig"]
    for c in (by_folder, by_npz, by_file):
        assert np.array_equal(c.simulate(ALL_ADDER_ROWS.astype(bool)), adder_expected(ALL_ADDER_ROWS))
    # a circuit file no import made has no source
    Circuit.load(adder["npz"]).copy().save(tmp_path / "plain.npz")
    c = Circuit.load(tmp_path / "plain.npz")
    c.meta.pop(runs.IMPORTED_META)
    c.save(tmp_path / "plain.npz")
    assert runs.load_any_circuit(tmp_path / "plain.npz")[1] is None

    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("x")
    for bad, exc, words in ((tmp_path / "empty", FileFormatError, "not a run directory"),
                            (tmp_path / "gone.npz", FileFormatError, "no circuit file"),
                            (tmp_path / "gone", FileFormatError, "does not exist"),
                            (tmp_path / "notes.txt", InputError, "not a circuit")):
        with pytest.raises(exc, match=words):
            runs.load_any_circuit(bad)
    (adder["folder"] / runs.IMPORT_FILE).write_text('{"format": "gatelearn.import", "version": 1, "file": "../x.aig"}')
    with pytest.raises(FileFormatError, match="import.json is not a readable import record"):
        runs.load_any_circuit(adder["folder"])


# ------------------------------------------------------------------------------ inspect, predict, bench
def test_inspect_each_path(adder):
    for key, path in adder.items():
        code, out, err = cli("inspect", path, "--json")
        assert code == 0, (key, err)
        rep = json.loads(out)
        assert rep["before"]["inputs"] == 6 and rep["before"]["outputs"] == 4 and "summary" not in rep, key
        assert rep["source"].endswith(".aig"), key
    code, out, _ = cli("inspect", adder["folder"])
    assert "gates per kind" in out and out.rstrip().endswith(str(adder["folder"] / "source.aig"))


def test_predict_prints_the_output_bits(adder, files, tmp_path):
    rows = ALL_ADDER_ROWS[::3]
    np.save(tmp_path / "in.npy", rows)
    np.savetxt(tmp_path / "in.csv", rows, fmt="%d", delimiter=",")
    want = Circuit.load(adder["npz"]).simulate(rows.astype(bool)).astype(int)
    assert np.array_equal(want, adder_expected(rows))
    text = "".join("".join(map(str, r)) + "\n" for r in want)
    for key, path in adder.items():
        for inp, target in (("in.npy", "numpy"), ("in.csv", "c")):
            code, out, err = cli("predict", path, "--input", tmp_path / inp, "--target", target)
            assert code == 0, (key, err)
            assert out == text, (key, inp)
    code, out, _ = cli("predict", adder["folder"], "--input", tmp_path / "in.npy", "--target", "numpy", "--json")
    assert [d["bits"] for d in json.loads(out)] == text.split()
    assert cli("predict", adder["aig"], "--input", tmp_path / "in.npy", "--target", "numpy",
               "--out", tmp_path / "bits.npy")[0] == 0
    assert np.array_equal(np.load(tmp_path / "bits.npy"), want)
    # several outputs of a BLIF, straight from the file
    np.save(tmp_path / "m.npy", ALL_MULTI_ROWS)
    code, out, err = cli("predict", files["blif"], "--input", tmp_path / "m.npy", "--target", "numpy")
    assert code == 0, err
    got = np.array([[int(ch) for ch in line] for line in out.split()])
    assert np.array_equal(got, multi_expected(ALL_MULTI_ROWS))

    # bad input: one line naming the problem
    np.save(tmp_path / "two.npy", np.full((2, 6), 2))
    one_line(*cli("predict", adder["aig"], "--input", tmp_path / "two.npy")[::2], 2, "row 0, column 0",
             "not an input bit")
    np.save(tmp_path / "wide.npy", np.zeros((2, 7)))
    one_line(*cli("predict", adder["npz"], "--input", tmp_path / "wide.npy")[::2], 2, "6 input bits", "got rows of 7")
    one_line(*cli("predict", adder["folder"], "--input", tmp_path / "in.npy", "--target", "torch")[::2], 2,
             "--target torch")
    one_line(*cli("predict", adder["folder"], "--input", tmp_path / "in.npy", "--scores")[::2], 2, "no class head")


def test_bench_each_path_in_vectors_per_second(adder, tmp_path):
    for key, path in adder.items():
        code, out, err = cli("bench", path, "--samples", "300", "--seconds", "0.01", "--threads", "1", "--json")
        assert code == 0, (key, err)
        rep = json.loads(out)
        assert rep["vectors"] == 300 and rep["outputs"] == 4 and rep["inputs"] == 6, key
        assert rep["vectors_per_s_1core"] > 0 and "samples" not in rep, key
    code, out, _ = cli("bench", adder["aig"], "--samples", "300", "--seconds", "0.01", "--threads", "1")
    assert "vectors/s (all 4 outputs), 1 thread" in out
    one_line(*cli("bench", tmp_path / "none.npz")[::2], 2, "none.npz")


# ------------------------------------------------------------------------------ optimize, verify
@needs_abc
def test_optimize_beside_a_folder_or_into_out(adder, tmp_path):
    code, out, err = cli("optimize", adder["folder"], "--json")
    assert code == 0, err
    rep = json.loads(out)
    assert rep["proven"] is True
    assert (adder["folder"] / runs.ABC_CIRCUIT_FILE).exists() == rep["kept"]
    one_line(*cli("optimize", adder["aig"])[::2], 2, "--out")
    one_line(*cli("optimize", adder["folder"], "--from-model")[::2], 2, "--from-model", "gatelearn import")
    for key in ("npz", "aig"):
        out_file = tmp_path / f"opt_{key}.npz"
        code, out, err = cli("optimize", adder[key], "--out", out_file, "--json")
        assert code == 0, err
        assert json.loads(out)["out"] == str(out_file)
        c, source = runs.load_any_circuit(out_file)
        assert source == adder["aig"].resolve()       # so verify can prove the result against the source
        assert np.array_equal(c.simulate(ALL_ADDER_ROWS.astype(bool)), adder_expected(ALL_ADDER_ROWS))
        code, out, err = cli("verify", out_file)
        assert code == 0 and out.startswith("PROVEN"), out + err
    one_line(*cli("optimize", adder["aig"], "--out", tmp_path / "o.aig")[::2], 2, ".npz")


@needs_abc
@needs_yosys
def test_verify_proves_every_circuit_and_artifact_against_the_source(files, tmp_path):
    run = tmp_path / "run"
    assert cli("import", files["aag"], run)[0] == 0
    assert cli("optimize", run)[0] == 0
    code, out, err = cli("export", run, "--formats", "aiger,blif,verilog", "--pipeline", "2")
    assert code == 0, err
    code, out, err = cli("verify", run)
    assert code == 0, out + err
    lines = out.splitlines()
    proven = [ln.split()[1].rstrip(":") for ln in lines if ln.startswith("PROVEN")]
    manifest = json.loads((run / "artifacts" / "manifest.json").read_text())["artifacts"]
    assert {"circuit.npz", *(f"artifacts/{e['file']}" for e in manifest)} <= set(proven)
    assert not [ln for ln in lines if ln.startswith(("FAILED", "ERROR", "UNDECIDED"))]
    assert lines[-1].startswith("proven equivalent to the source file source.aag: circuit.npz")
    assert json.loads((run / "verify.json").read_text())["ok"] is True

    # the .npz import wrote and the file itself are proven the same way (nothing is written)
    assert cli("import", files["blif"], tmp_path / "m.npz")[0] == 0
    for path in (tmp_path / "m.npz", files["blif"], files["aag"], files["aig"]):
        code, out, err = cli("verify", path, "--json")
        assert code == 0, (path, err)
        rep = json.loads(out)
        assert rep["ok"] and rep["proven"] == [path.name] and rep["against"].startswith("the source file"), path


@needs_abc
def test_verify_fails_on_a_tampered_circuit_or_source(adder, tmp_path):
    folder, npz = adder["folder"], adder["npz"]
    for target in (folder / runs.CIRCUIT_FILE, npz):
        # the gate behind output s0 computes its negation
        c = Circuit.load(target)
        g = int(c.outputs[0]) - c.num_inputs
        c.op[g] ^= 15
        c.save(target)
        code, out, err = cli("verify", target.parent if target.parent == folder else target)
        assert code == 1 and err == "", out + err
        failed = [ln for ln in out.splitlines() if ln.startswith("FAILED")]
        assert len(failed) == 1 and f"{target.name}: " in failed[0], out
        assert out.splitlines()[-1].startswith(f"NOT verified: {target.name}")

    # the folder's copy of the source edited: refused before anything is proven against it
    (folder / "source.aig").write_bytes(adder_aig().replace(b"adder", b"edited"))
    code, out, _ = cli("verify", folder, "--json")
    rep = json.loads(out)
    assert code == 1 and rep["failed"] == ["source.aig"] and "changed since gatelearn import" in out

    # nothing to prove against: one line each
    c = Circuit.load(npz)
    c.meta.pop(runs.IMPORTED_META)
    c.save(tmp_path / "plain.npz")
    one_line(*cli("verify", tmp_path / "plain.npz")[::2], 2, "plain.npz", "nothing to prove it against")
    moved = tmp_path / "moved"
    moved.mkdir()
    shutil.move(adder["aig"], moved / "adder.aig")
    one_line(*cli("verify", npz)[::2], 2, "adder.aig", "is missing")

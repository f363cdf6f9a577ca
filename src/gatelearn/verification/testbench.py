"""Verilog testbenches: golden vectors from the software simulator, a self-checking testbench
for an emitted top (:mod:`gatelearn.backends.verilog`), and reading back the results it dumps.

The hardware takes each feature in the design's fixed-point format (:func:`to_hw_features`:
``min(2^W - 1, ceil(x * 2^k))``, k the feature's fractional bits); the testbench feeds those,
compares ``class_idx`` and ``counts`` with the golden values and writes every result for a
bit-for-bit comparison outside the simulator. Golden values are what the model computes on the
numbers the hardware values stand for (:func:`gatelearn.verification.reference.hardware_bits`,
from the model's thresholds), run through the software simulator.
"""
from __future__ import annotations

import numpy as np

from ..backends.base import Artifacts
from ..backends.verilog import HwSpec
from ..circuit.inputs import InputContract
from ..circuit.ir import Circuit
from ..errors import InputError
from .reference import hardware_bits, hardware_rules

__all__ = ["to_hw_features", "hw_values", "random_features", "hex_rows", "read_hex_rows", "emit_testbench",
           "parse_results"]


def to_hw_features(circuit: Circuit, spec: HwSpec, x: np.ndarray) -> np.ndarray:
    """Raw features -> the unsigned integers the hardware takes: per feature
    ``min(2^W - 1, ceil(float32(x) * 2^k))`` with k its fractional bits (``spec.frac_bits``), the
    format written into the Verilog header. Raises InputError for rows the model refuses (its
    input contract: shape, NaN, category codes) and for negative values (the hardware inputs are
    unsigned)."""
    x = np.asarray(x)
    if spec.bits_input:
        if x.ndim != 2 or x.shape[1] != spec.features or not np.isin(x, (0, 1)).all():
            raise InputError(f"bit inputs must be an (N, {spec.features}) array of 0 and 1")
        return x.astype(np.uint64)
    x = InputContract.of(circuit).check(x)
    x32 = x.astype(np.float32).astype(np.float64)        # the model's precision
    neg = x32 < 0
    if neg.any():
        r, f = (int(i) for i in np.argwhere(neg)[0])
        raise InputError(f"raw feature {f} is {float(x32[r, f])!r} in row {r}; the hardware takes features >= 0 "
                         "(unsigned fixed point)")
    ks = np.array(spec.scale_bits(), np.float64)
    scaled = np.ceil(x32 * np.exp2(ks))                  # exact: a power-of-two scale
    return np.minimum(scaled, float((1 << spec.width) - 1)).astype(np.uint64)


def hw_values(spec: HwSpec, hx: np.ndarray) -> np.ndarray:
    """The numbers hardware values stand for, ``hx / 2^k`` per feature (float64)."""
    hx = np.asarray(hx)
    if spec.bits_input:
        return hx.astype(np.float64)
    return hx.astype(np.float64) / np.exp2(np.array(spec.scale_bits(), np.float64))


def random_features(circuit: Circuit, spec: HwSpec, n: int, seed: int = 0) -> np.ndarray:
    """``n`` random raw feature rows that the hardware represents exactly (grid points, valid
    category codes), spread over every threshold of each feature: values up to about twice the
    largest constant of the feature (all of 0..2^W-1 when that is smaller)."""
    rng = np.random.default_rng(seed)
    if spec.bits_input:
        return rng.integers(0, 2, (n, spec.features)).astype(np.float64)
    top = (1 << spec.width) - 1
    hi = np.zeros(spec.features, np.int64)
    for i, (kind, c) in enumerate(hardware_rules(circuit, spec)):
        if kind in ("ge", "eq"):
            f = int(circuit.encoder.feature[i])
            hi[f] = max(hi[f], c)
    hi = np.minimum(top, np.maximum(2 * hi + 1, min(top, 255)))
    x = hw_values(spec, (rng.random((n, spec.features)) * (hi + 1)).astype(np.int64))
    cats = circuit.encoder.categories
    codes = np.floor(rng.random((n, spec.features)) * np.maximum(cats, 1))    # valid category codes
    return np.where(cats > 0, codes, x)


# ------------------------------------------------------------------------------ trees


def hex_rows(values: np.ndarray, width: int) -> list[str]:
    """Rows of unsigned fields (field 0 in the low bits) as hex for $readmemh."""
    values = np.asarray(values, np.uint64)
    total = values.shape[1] * width
    digits = (total + 3) // 4
    if width == 8:
        return [bytes(r[::-1].astype(np.uint8)).hex().rjust(digits, "0")[-digits:] for r in values]
    rows = []
    for r in values.tolist():
        acc = 0
        for f, v in enumerate(r):
            acc |= int(v) << (f * width)
        rows.append(format(acc, f"0{digits}x"))
    return rows


def read_hex_rows(text: str, fields: int, width: int) -> np.ndarray:
    """The inverse of :func:`hex_rows`: (rows, fields) uint64 from the hex lines of ``text``."""
    mask = (1 << width) - 1
    rows = [[(int(line, 16) >> (f * width)) & mask for f in range(fields)] for line in text.split()]
    return np.array(rows, np.uint64).reshape(-1, fields)


def emit_testbench(circuit: Circuit, spec: HwSpec, x: np.ndarray, prefix: str | None = None) -> Artifacts:
    """Self-checking testbench ``NAME_tb`` (file ``NAME_tb.v``) and its vector files
    ``PREFIX_x.hex``, ``PREFIX_class.hex``, ``PREFIX_counts.hex`` (PREFIX defaults to NAME).

    Golden class indices and counts come from the software simulator on the model's encoder bits
    for the hardware values (:func:`.reference.hardware_bits`). The testbench prints ``GATELEARN_TB vectors=N
    errors=E`` and writes every result to ``PREFIX_results.txt`` ("class counts" in hex per
    line) for a bit-for-bit comparison (:func:`parse_results`). ``info``: top, vectors.
    """
    name = spec.name
    prefix = prefix or name
    hx = to_hw_features(circuit, spec, x)
    n = len(hx)
    if n == 0:
        raise InputError("a testbench needs at least one golden vector (got 0 rows)")
    # Golden: the model on the numbers the hardware values stand for.
    cnt = circuit.class_counts(circuit.simulate(hardware_bits(circuit, spec, hx)))
    cls = np.argmax(cnt, axis=1)
    files = {f"{prefix}_x.hex": "\n".join(hex_rows(hx, spec.width)) + "\n",
             f"{prefix}_class.hex": "\n".join(format(int(c), "x") for c in cls) + "\n",
             f"{prefix}_counts.hex": "\n".join(hex_rows(cnt, spec.count_bits)) + "\n"}
    XW, CB, K = spec.x_bits, spec.classes * spec.count_bits, spec.class_bits
    decl = [
        "`timescale 1ns/1ps",
        f"// Self-checking testbench for {name}: {n} golden vectors from gatelearn's software model.",
        f"module {name}_tb;",
        f"  localparam N = {n};",
        f"  reg [{XW - 1}:0] xmem [0:N-1];",
        f"  reg [{K - 1}:0] kmem [0:N-1];",
        f"  reg [{CB - 1}:0] cmem [0:N-1];",
        f"  reg [{XW - 1}:0] x;",
        f"  wire [{K - 1}:0] class_idx;",
        f"  wire [{CB - 1}:0] counts;",
        "  integer i, errors, fd;",
        "  task check(input integer j); begin",
        '    $fwrite(fd, "%h %h\\n", class_idx, counts);',
        "    if (class_idx !== kmem[j] || counts !== cmem[j]) begin",
        "      errors = errors + 1;",
        '      if (errors <= 10) $display("MISMATCH vector %0d: class %0d (expected %0d) counts %h (expected %h)",'
        " j, class_idx, kmem[j], counts, cmem[j]);",
        "    end",
        "  end endtask",
        "  task load; begin",
        f'    $readmemh("{prefix}_x.hex", xmem);',
        f'    $readmemh("{prefix}_class.hex", kmem);',
        f'    $readmemh("{prefix}_counts.hex", cmem);',
        f'    fd = $fopen("{prefix}_results.txt", "w");',
        "    errors = 0;",
        "  end endtask",
        "  task finish; begin",
        "    $fclose(fd);",
        '    $display("GATELEARN_TB vectors=%0d errors=%0d", N, errors);',
        "    $finish;",
        "  end endtask",
    ]
    if not spec.pipeline:
        body = [f"  {name} dut(.x(x), .class_idx(class_idx), .counts(counts));",
                "  initial begin",
                "    load;",
                "    for (i = 0; i < N; i = i + 1) begin",
                "      x = xmem[i];",
                "      #1 check(i);",
                "    end",
                "    finish;",
                "  end"]
    else:
        body = ["  reg clk = 1'b0, rst = 1'b1, in_valid = 1'b0;",
                "  wire out_valid;",
                "  integer sent, got, cycles;",
                "  always #5 clk = ~clk;",
                f"  {name} dut(.clk(clk), .rst(rst), .in_valid(in_valid), .out_valid(out_valid), .x(x), "
                ".class_idx(class_idx), .counts(counts));",
                "  initial begin",
                "    load;",
                "    sent = 0; got = 0; cycles = 0; x = 0;",
                "    repeat (3) @(posedge clk);",
                "    @(negedge clk) rst = 1'b0;",
                "    while (got < N && cycles < N + 100) begin",
                "      // Drive on the falling edge, sample on the rising edge: no races.",
                "      if (sent < N) begin x = xmem[sent]; in_valid = 1'b1; sent = sent + 1; end",
                "      else in_valid = 1'b0;",
                "      @(posedge clk);",
                "      #1 if (out_valid) begin check(got); got = got + 1; end",
                "      @(negedge clk);",
                "      cycles = cycles + 1;",
                "    end",
                '    if (got < N) begin $display("MISMATCH: only %0d of %0d results arrived", got, N);'
                " errors = errors + N - got; end",
                "    finish;",
                "  end"]
    files[f"{name}_tb.v"] = "\n".join(decl + body + ["endmodule", ""])
    return Artifacts(f"{name}_tb", files, {"top": f"{name}_tb", "vectors": n})


def parse_results(text: str, spec: HwSpec) -> tuple[np.ndarray, np.ndarray]:
    """The testbench's NAME_results.txt -> (class index, counts) arrays."""
    cls, cnt = [], []
    B, mask = spec.count_bits, (1 << spec.count_bits) - 1
    for line in text.split("\n"):
        if not line.strip():
            continue
        k, c = line.split()
        if "x" in (k + c).lower() or "z" in (k + c).lower():
            raise InputError(f"simulation produced unknown values: {line}")
        cls.append(int(k, 16))
        v = int(c, 16)
        cnt.append([(v >> (j * B)) & mask for j in range(spec.classes)])
    return np.array(cls, np.int64), np.array(cnt, np.int64).reshape(-1, spec.classes)

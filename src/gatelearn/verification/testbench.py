"""Verilog testbenches: golden vectors from the software simulator, a self-checking testbench
for an emitted top (:mod:`gatelearn.backends.verilog`), and reading back the results it dumps.

The hardware takes unsigned integer features saturated to 2^W - 1 (:func:`to_hw_features`); the
testbench feeds those, compares ``class_idx`` and ``counts`` with the golden values and writes
every result for a bit-for-bit comparison outside the simulator.
"""
from __future__ import annotations

import numpy as np

from ..backends.base import Artifacts
from ..backends.verilog import HwSpec
from ..circuit.ir import Circuit
from ..errors import InputError
from .agreement import reference_outputs

__all__ = ["to_hw_features", "hex_rows", "emit_testbench", "parse_results"]


def to_hw_features(circuit: Circuit, spec: HwSpec, x: np.ndarray) -> np.ndarray:
    """Raw features -> the unsigned integers the hardware takes (saturated to 2^W - 1).

    Raises InputError for values that are not non-negative integers: the comparators are exact
    only on integers.
    """
    x = np.asarray(x)
    if spec.bits_input:
        if not np.isin(x, (0, 1)).all():
            raise InputError("bit inputs must be 0 or 1")
        return x.astype(np.uint64)
    xf = x.astype(np.float64)
    if (xf < 0).any() or (xf != np.floor(xf)).any():
        raise InputError("the hardware encoder takes non-negative integer features; these features have "
                         "negative or fractional values")
    return np.minimum(xf, (1 << spec.width) - 1).astype(np.uint64)


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


def emit_testbench(circuit: Circuit, spec: HwSpec, x: np.ndarray, prefix: str | None = None) -> Artifacts:
    """Self-checking testbench ``NAME_tb`` (file ``NAME_tb.v``) and its vector files
    ``PREFIX_x.hex``, ``PREFIX_class.hex``, ``PREFIX_counts.hex`` (PREFIX defaults to NAME).

    Golden class indices and counts come from the software simulator
    (:func:`.agreement.reference_outputs`). The testbench prints ``GATELEARN_TB vectors=N
    errors=E`` and writes every result to ``PREFIX_results.txt`` ("class counts" in hex per
    line) for a bit-for-bit comparison (:func:`parse_results`). ``info``: top, vectors.
    """
    name = spec.name
    prefix = prefix or name
    hx = to_hw_features(circuit, spec, x)
    cls, cnt = reference_outputs(circuit, x)
    n = len(hx)
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

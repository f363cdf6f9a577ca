"""What the commands print: ``--version``; an aligned table by default and one JSON document with
``--json`` on every command; progress lines on stderr, in order, as the steps happen (and never
on stdout, never with carriage returns, silenced by GATELEARN_QUIET=1); the one line a Ctrl-C
ends with; the kernel build's progress hook."""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import signal
import threading
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import torch

import gatelearn
from gatelearn import progress
from gatelearn.backends import aiger
from gatelearn.cli import _output
from gatelearn.cli.main import build_parser, main
from gatelearn.tools import abc

needs_abc = pytest.mark.skipif(not abc.available(), reason="ABC (apt-get install berkeley-abc) is not installed")


def cli(*argv) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``gatelearn ARGV`` in this process."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def save_model(path: Path, seed: int = 0) -> None:
    spec = {"encoder": {"kind": "thresholds", "features": 8, "per_feature": 2},
            "layers": [{"kind": "logic", "out": 60, "init": "gaussian"},
                       {"kind": "logic", "out": 30, "init": "gaussian"}],
            "head": {"kind": "groupsum", "classes": 3, "tau": 1.0}, "seed": seed}
    m = gatelearn.build_model(spec)
    with torch.no_grad():
        t = np.random.default_rng(seed).uniform(0, 255, (8, 2))
        m.encoder.thresholds.copy_(torch.tensor(t, dtype=torch.float32))
    gatelearn.save(m, path)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory) -> Path:
    """A small run, compiled to C and exported, with a training summary (hard accuracy 0.875)."""
    run = tmp_path_factory.mktemp("output") / "run"
    save_model(run)
    (run / "summary.json").write_text(json.dumps({"hard_accuracy": 0.875, "relaxed_accuracy": 0.9, "gap": 0.025}))
    code, _, err = cli("compile", run, "--check", "64")
    assert code == 0, err
    code, _, err = cli("export", run, "--formats", "aiger,blif", "--vectors", "8")
    assert code == 0, err
    return run


@pytest.fixture
def run_copy(compiled, tmp_path) -> Path:
    return shutil.copytree(compiled, tmp_path / "run")


@pytest.fixture
def no_delay(monkeypatch):
    """Every step announced at once, so that a test sees the lines a slow step would print."""
    monkeypatch.setattr(progress, "DELAY", 0.0)
    monkeypatch.delenv(progress.QUIET_ENV, raising=False)


# ------------------------------------------------------------------------------ --version

def test_version_is_the_installed_distributions(capsys):
    want = f"gatelearn {metadata.version('gatelearn')}"
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == want
    with pytest.raises(SystemExit) as exc:        # argparse's own --version (with the parser built)
        build_parser().parse_args(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.strip() == want


# ------------------------------------------------------------------------------ --json and tables

def test_every_command_has_json():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    mine = ("compile", "verify", "report", "inspect", "bench", "optimize", "export", "import", "demo")
    for name in mine:
        flags = {s for a in sub.choices[name]._actions for s in a.option_strings}
        assert "--json" in flags, name


def test_compile_prints_a_table_or_json(compiled, tmp_path):
    code, out, err = cli("compile", compiled, "--target", "numpy", "--check", "32", "--out", tmp_path / "np")
    assert code == 0, err
    assert out.splitlines()[0].split() == ["run", "directory", str(compiled)]
    assert "check against the model  agrees on all 32 random inputs" in out
    code, out, _ = cli("compile", compiled, "--target", "numpy", "--check", "32", "--out", tmp_path / "np", "--json")
    rep = json.loads(out)
    assert rep["target"] == "numpy" and rep["check"]["agree"] and rep["check"]["samples"] == 32


def test_inspect_bench_export_import_json_and_tables(run_copy, tmp_path):
    code, out, err = cli("inspect", run_copy, "--json", "--no-bench")
    assert code == 0, err
    ins = json.loads(out)
    assert ins["summary"]["accuracy"]["hard_accuracy"] == 0.875 and ins["summary"]["model_gates"] == 90
    # the table ends with the run's summary table: accuracy, gates learned and after passes, speed
    code, out, err = cli("inspect", run_copy)
    assert code == 0, err
    tail = out.split("\n\n")[-1].splitlines()
    rows = {line[:30].strip(): line[30:].strip() for line in tail}
    assert rows["accuracy (hard, test set)"] == "87.50% (relaxed 90.00%)"
    assert rows["gates learned (lowered model)"] == "90"
    assert rows["gates after passes"] == f"{ins['after']['gates']:,}"
    assert rows["throughput (C, 1 thread)"].endswith("samples/s")

    code, out, err = cli("bench", run_copy, "--samples", "500", "--seconds", "0.02", "--json")
    assert code == 0, err
    assert json.loads(out)["samples"] == 500
    code, out, _ = cli("bench", run_copy, "--samples", "500", "--seconds", "0.02")
    assert "samples/s, 1 thread" in out and not out.lstrip().startswith("{")

    code, out, err = cli("export", run_copy, "--formats", "aiger,blif", "--json")
    assert code == 0, err
    assert {e["file"] for e in json.loads(out)["artifacts"]} == {"net.aig", "net.blif"}
    code, out, _ = cli("export", run_copy, "--formats", "aiger,blif")
    header, rule, *rows = out.splitlines()
    assert header.split() == ["kind", "file", "gates", "depth", "notes"] and set(rule) == {"-", " "}
    assert [r.split()[:2] for r in rows] == [["aiger", "artifacts/net.aig"], ["blif", "artifacts/net.blif"]]
    # the columns line up: every row's file starts where the header's does
    assert all(r.index("artifacts/") == header.index("file") for r in rows)

    code, out, err = cli("import", run_copy / "artifacts" / "net.aig", tmp_path / "net.npz", "--json")
    assert code == 0, err
    imp = json.loads(out)
    assert imp["gates"] > 0 and Path(imp["out"]).exists()
    code, out, _ = cli("import", run_copy / "artifacts" / "net.aig", tmp_path / "net.npz")
    assert out.splitlines()[0].split()[0] == "read"


@needs_abc
def test_verify_report_optimize_json(run_copy):
    code, out, err = cli("verify", run_copy, "--json")
    assert code == 0, err
    assert json.loads(out)["ok"] is True
    code, out, err = cli("optimize", run_copy, "--json")
    assert code == 0, err
    assert json.loads(out)["proven"] is True
    code, out, err = cli("report", run_copy, "--json", "--network-luts-only")
    assert code == 0, err
    r = json.loads(out)
    assert r["verified"] is True and r["accuracy"]["hard_accuracy"] == 0.875
    assert r["samples_per_s_1thread"] > 0 and r["gates_after_passes"] >= r["gates"]


@needs_abc
def test_report_ends_with_one_summary_table(run_copy):
    code, out, err = cli("report", run_copy, "--network-luts-only")
    assert code == 0, err
    lines = out.strip().splitlines()
    width = len(lines[0]) - len(lines[0][len("run"):].lstrip())      # where the values start
    rows = {line[:width].strip(): line[width:] for line in lines}
    assert all(line[width - 2:width] == "  " and line[width] != " " for line in lines), out   # one aligned table
    assert rows["accuracy (hard, test set)"] == "87.50% (relaxed 90.00%)"
    assert rows["gates learned (lowered model)"] == "90"
    for key in ("gates after passes", "logic depth", "ABC AND nodes", "6-LUTs, gate network (ABC)",
                "throughput (C, 1 thread)"):
        assert rows[key], key
    assert "6-LUTs, whole design" not in rows          # not computed with --network-luts-only
    assert rows["verified (gatelearn verify)"] == "not run"


def test_demo_json_is_one_document(tmp_path, monkeypatch):
    """The steps' own --json results in one document (a short training and a compile here: the
    real demo's later steps print JSON the same way)."""
    from gatelearn.cli import demo
    real = demo._steps

    def short(args):
        steps = dict(real(args))
        train = steps["train"]
        train[train.index("--iterations") + 1] = "20"
        return [("train", train), ("compile", steps["compile"] + ["--check", "16"])]

    monkeypatch.setattr(demo, "_steps", short)
    code, out, err = cli("demo", "--out", tmp_path / "demo", "--preset", "monk1", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["ok"] is True and [s["step"] for s in doc["steps"]] == ["train", "compile"]
    assert doc["steps"][0]["result"]["iterations"] == 20                       # summary.json
    assert doc["steps"][1]["result"]["check"]["agree"] is True                 # compile --json
    # and as tables: each step under its heading, then the table of the steps
    code, out, err = cli("demo", "--out", tmp_path / "demo", "--preset", "monk1")
    assert code == 0, err
    assert "=== gatelearn compile" in out and "check against the model" in out
    step_rows = out.split("step ")[-1].splitlines()
    assert [r.split()[:2] for r in step_rows[2:4]] == [["train", "ok"], ["compile", "ok"]]


# ------------------------------------------------------------------------------ tables

def test_table_helpers():
    text = _output.key_value_table([("gates", 12345), ("skipped", None), ("accuracy", 0.98765),
                                    ("files", ["a.c", "a.h"]), ("ok", True)])
    assert text.splitlines() == ["gates     12,345", "accuracy  0.9877", "files     a.c", "          a.h",
                                 "ok        yes"]
    table = _output.column_table(["name", "gates"], [["net", 5], ["design", 1234]])
    assert table.splitlines() == ["name    gates", "------  -----", "net         5", "design  1,234"]
    assert _output.percent(0.98123) == "98.12%" and _output.percent(None) is None


# ------------------------------------------------------------------------------ progress

def test_progress_lines_in_order_and_nested(no_delay, capsys):
    with progress.command("gatelearn test"):
        with progress.step("outer step"):
            with progress.step("inner step", done="inner finished in {seconds}"):
                pass
            progress.say("a note")
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert [line.split(" in ")[0] for line in lines] == [
        "gatelearn test: outer step...", "gatelearn test:   inner step...", "gatelearn test:   inner finished",
        "gatelearn test:   a note", "gatelearn test: outer step: done"]
    assert "\r" not in err and "\x1b" not in err


def test_quick_steps_print_nothing_slow_ones_announce_themselves(monkeypatch, capsys):
    monkeypatch.delenv(progress.QUIET_ENV, raising=False)
    monkeypatch.setattr(progress, "DELAY", 0.2)
    with progress.step("quick"):
        pass
    assert capsys.readouterr().err == ""
    with progress.step("slow outer"):
        with progress.step("slow inner"):
            time.sleep(0.5)
    lines = capsys.readouterr().err.splitlines()
    # the outer step comes first, however the two timers fire
    assert lines[0] == "gatelearn: slow outer..." and lines[1] == "gatelearn:   slow inner..."
    assert lines[2].startswith("gatelearn:   slow inner: done in 0.") and lines[3].startswith("gatelearn: slow outer")


def test_progress_is_quiet_on_request_and_never_breaks(no_delay, monkeypatch, capsys):
    monkeypatch.setenv(progress.QUIET_ENV, "1")
    with progress.step("hidden"):
        progress.say("hidden too")
    assert capsys.readouterr().err == ""
    monkeypatch.delenv(progress.QUIET_ENV)

    class Closed(io.StringIO):
        def write(self, s):
            raise BrokenPipeError(32, "Broken pipe")      # `2>&1 | head` after head has quit

    monkeypatch.setattr(progress, "_broken", False)
    with contextlib.redirect_stderr(Closed()):
        with progress.step("into a closed pipe"):
            progress.say("still fine")
    assert progress._broken


def test_verify_prints_each_result_as_its_check_finishes(compiled, tmp_path, no_delay, monkeypatch):
    """stdout and stderr into one stream: each check's line comes out before the next check
    starts, not all at the end."""
    from gatelearn.flows import verify as flow
    run = shutil.copytree(compiled, tmp_path / "run")

    def fake_cec(item, what, a, b, timeout):     # no ABC needed: the order is what is tested
        from gatelearn.verification.equivalence import Check
        return Check(item, what, "proven", "", 0.0)

    monkeypatch.setattr(flow, "cec_check", fake_cec)
    both = io.StringIO()
    with contextlib.redirect_stdout(both), contextlib.redirect_stderr(both):
        code = main(["verify", str(run)])
    assert code == 0, both.getvalue()
    lines = both.getvalue().splitlines()
    order = [i for i, line in enumerate(lines) if line.startswith(("PROVEN", "TESTED"))]
    starts = [i for i, line in enumerate(lines) if line.startswith("gatelearn verify: ") and line.endswith("...")
              and ("proving" in line or "testing" in line)]
    assert len(order) == len(starts) == 4, lines          # circuit.npz, net.aig, net.blif, the C library
    assert all(s < o < n for s, o, n in zip(starts, order, starts[1:] + [len(lines)])), lines
    assert lines[-1].startswith("proven equivalent to the trained model: circuit.npz, artifacts/net.aig")


@needs_abc
def test_tool_runs_show_as_progress(run_copy, no_delay):
    code, out, err = cli("optimize", run_copy)
    assert code == 0, err
    assert "gatelearn optimize: ABC: optimising in.aig with 'strash; dc2; resyn2; dc2; resyn2'..." in err
    assert out.splitlines()[0].startswith("ABC script") and "proven equivalent" in out


# ------------------------------------------------------------------------------ Ctrl-C

def interrupt(*_a, **_k):
    raise KeyboardInterrupt


def test_ctrl_c_in_compile_says_what_was_written(compiled, tmp_path, monkeypatch):
    from gatelearn.cli import compile as cmd
    run = shutil.copytree(compiled, tmp_path / "run")
    monkeypatch.setattr(cmd, "compile_circuit", interrupt)
    code, out, err = cli("compile", run, "--out", tmp_path / "c")
    assert code == 130 and out == ""
    (line,) = err.splitlines()
    assert line.startswith("gatelearn compile: interrupted while compiling ")
    assert f"written so far: {run / 'circuit.npz'} (each complete)" in line and "run gatelearn compile again" in line


def test_ctrl_c_in_report_names_the_step(compiled, monkeypatch):
    from gatelearn.flows import report as flow
    monkeypatch.setattr(flow, "quick_throughput", lambda c: progress_step_then_interrupt("timing the circuit"))
    monkeypatch.setattr(abc, "stats", lambda *a, **k: abc.AigStats(1, 1, 0, 5, 2))
    code, out, err = cli("report", compiled, "--no-luts")
    assert code == 130 and out == ""
    assert err.strip() == ("gatelearn report: interrupted while timing the circuit; report writes nothing, so "
                           "nothing was changed")


def progress_step_then_interrupt(what):
    with progress.step(what):
        raise KeyboardInterrupt


def test_ctrl_c_in_demo_says_which_steps_finished(compiled, tmp_path, monkeypatch):
    from gatelearn.cli import compile as cmd
    from gatelearn.cli import demo
    run = shutil.copytree(compiled, tmp_path / "run")
    monkeypatch.setattr(demo, "_steps", lambda args: [("inspect", ["inspect", str(run), "--no-bench"]),
                                                      ("compile", ["compile", str(run)])])
    monkeypatch.setattr(cmd, "compile_circuit", interrupt)
    code, _, err = cli("demo", "--out", run, "--no-fresh")
    assert code == 130
    (line,) = err.splitlines()
    assert line.startswith("gatelearn demo: interrupted in step compile (interrupted while compiling")
    assert line.endswith(f"finished before it: inspect, their files are in {run}")


def test_ctrl_c_stops_the_tool_it_was_waiting_for(tmp_path, monkeypatch):
    """A tool runs in its own session (a timeout kills its whole group), so the terminal's SIGINT
    does not reach it: gatelearn kills it on the way out."""
    from gatelearn.tools import _run
    marker = tmp_path / "still-running"
    slow = tmp_path / "slow"
    slow.write_text(f"#!/bin/sh\nsleep 1\ntouch {marker}\n")
    slow.chmod(0o755)
    tool = _run.Tool("slow tool", (str(slow),), "none", "GATELEARN_TEST_UNUSED")
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("SIGINT is not Python's KeyboardInterrupt here")
    # a real SIGINT (as the terminal sends it): it interrupts the wait for the tool
    timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        _run.run(tool, [], tmp_path, 30, "waiting")
    time.sleep(1.3)      # past the moment the tool would have written its file
    assert not marker.exists()


# ------------------------------------------------------------------------------ kernel build

def test_kernel_build_progress_hook(tmp_path, monkeypatch, capsys):
    from torch.utils import cpp_extension

    from gatelearn.kernels import build

    def fake_load(name, sources, build_directory, **kw):
        (Path(build_directory) / f"{name}.so").write_bytes(b"")
        return object()

    monkeypatch.setattr(cpp_extension, "load", fake_load)
    monkeypatch.setenv("TORCH_EXTENSIONS_DIR", str(tmp_path))
    monkeypatch.delenv("GATELEARN_NO_EXTENSION", raising=False)
    monkeypatch.delenv(progress.QUIET_ENV, raising=False)
    assert build.Extension("gatelearn_logic", "logic_fused.cpp", "test kernel").get() is not None
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "gatelearn: building the CPU kernels (first run only, about a minute): test kernel..."
    assert lines[1].startswith("gatelearn: built the test kernel in ") and lines[1].endswith(" s")
    # ensure_built: every kernel of the package, or the named ones; a reason for each one not ready
    monkeypatch.setenv("GATELEARN_NO_EXTENSION", "1")
    assert build.ensure_built() == {"gatelearn_conv_tree": "disabled by GATELEARN_NO_EXTENSION=1",
                                    "gatelearn_logic": "disabled by GATELEARN_NO_EXTENSION=1"}
    assert list(build.ensure_built("gatelearn_logic")) == ["gatelearn_logic"]
    with pytest.raises(ValueError, match="unknown kernel"):
        build.ensure_built("nope")


def test_json_output_of_a_circuit_file(tmp_path):
    """inspect on a circuit file (no run): the per-kind table, and no run summary."""
    from gatelearn.gates import BY_NAME
    c = gatelearn.Circuit(2, [BY_NAME["AND"].id], [0], [1], [2]).validate()
    c.save(tmp_path / "c.npz")
    aiger.write_aiger(c, tmp_path / "c.aig")
    code, out, err = cli("inspect", tmp_path / "c.npz")
    assert code == 0, err
    assert "gates per kind" in out and "accuracy" not in out
    code, out, _ = cli("inspect", tmp_path / "c.npz", "--json")
    assert "summary" not in json.loads(out)

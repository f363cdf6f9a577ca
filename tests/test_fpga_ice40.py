"""``gatelearn report --fpga``: a trained model's pipelined Verilog synthesised, placed and routed on
an iCE40 with yosys and nextpnr-ice40 (``gatelearn.tools.ice40``).

The flow tests skip when yosys, nextpnr-ice40 or ABC (the report's own 6-LUT count) is missing;
.ci/run installs them (apt-get install yosys nextpnr-ice40 fpga-icestorm fpga-icestorm-chipdb
berkeley-abc). icetime is optional: its figure is checked when it runs.
"""
from __future__ import annotations

import json
import re
import shutil

import pytest

from gatelearn import runs
from gatelearn.cli.main import main
from gatelearn.tools import abc, ice40

needs_tools = pytest.mark.skipif(not (ice40.available() and abc.available()),
                                 reason="yosys, nextpnr-ice40 and ABC are needed "
                                        "(apt-get install yosys nextpnr-ice40 berkeley-abc)")
TOP = "gatelearn_model_pipe2"


@pytest.fixture(scope="module")
def monk1_run(tmp_path_factory):
    """monk1 trained briefly, exported with a 2-level pipeline: the design every flow test places."""
    if not (ice40.available() and abc.available()):
        pytest.skip("yosys, nextpnr-ice40 and ABC are needed (apt-get install yosys nextpnr-ice40 berkeley-abc)")
    run = tmp_path_factory.mktemp("monk1") / "run"
    assert main(["train", "--preset", "monk1", "--iterations", "200", "--threads", "1", "--out", str(run)]) == 0
    assert main(["export", str(run), "--pipeline", "2", "--vectors", "16"]) == 0
    return run


def report_json(capsys, *args) -> tuple[int, dict, str]:
    """Exit code, the JSON document on stdout, and stderr of ``gatelearn report ARGS --json``."""
    capsys.readouterr()
    code = main(["report", *args, "--json"])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else {}, err


@needs_tools
def test_monk1_places_and_routes_on_hx8k(monk1_run, capsys, monkeypatch):
    monkeypatch.setenv("GATELEARN_QUIET", "1")
    code, r, err = report_json(capsys, str(monk1_run), "--fpga", "ice40-hx8k", "--no-bench")
    assert code == 0, err
    f = r["fpga"]
    assert (f["device"], f["package"], f["top"], f["pipeline"]) == ("ice40-hx8k", "ct256", TOP, 2)
    # LUT4s against the report's own 6-LUT count of the same design: a 6-LUT is one to a few LUT4s,
    # and synth_ice40 puts the popcount adders on carry chains, so the same order of magnitude
    assert f["lut4s_synthesis"] > 0 and r["luts_full"] > 0
    assert r["luts_full"] / 3 <= f["lut4s_synthesis"] <= 10 * r["luts_full"], (f["lut4s_synthesis"], r["luts_full"])
    # each logic cell holds at most one LUT4 (and one flip-flop)
    assert f["lut4s_synthesis"] <= f["logic_cells"] <= f["lut4s_synthesis"] + f["flip_flops_synthesis"]
    assert f["logic_cells"] <= f["device_lut4s"] == 7_680
    assert f["fits"] is True and f["placed_and_routed"] is True and f["not_fitted"] is None
    # an iCE40 logic level is about 1-2 ns with routing: a pipelined design runs at tens to a few
    # hundred MHz, never faster than the fabric's clock network allows
    assert 10 < f["fmax_mhz"] < 500
    assert f["input_to_register_ns"] > 0 and f["register_to_output_ns"] > 0
    # the latency is the one the pipelined module declares
    verilog = (monk1_run / runs.ARTIFACTS_DIR / f"{TOP}.v").read_text()
    assert f["latency_cycles"] == int(re.search(r"localparam LATENCY = (\d+);", verilog).group(1))
    assert f["latency_cycles"] == r["pipeline_latency"][TOP]
    # ports: clk, rst, in_valid, x, out_valid, class_idx, counts, each bit one pin
    spec = next(e["spec"] for e in json.loads((monk1_run / runs.ARTIFACTS_DIR / "manifest.json").read_text())
                ["artifacts"] if e.get("top") == TOP)
    ports = 4 + spec["features"] * spec["width"] + spec["class_bits"] + spec["classes"] * spec["count_bits"]
    assert f["io_bits"] == ports
    steps = f["seconds"]
    assert steps["total"] >= steps["synthesis"] + steps["place_and_route"] > 0
    if f["icetime_fmax_mhz"] is not None:
        # icetime times the same routed design with its own delay model: close to nextpnr's figure
        assert 0.5 < f["icetime_fmax_mhz"] / f["fmax_mhz"] < 2
    else:
        assert "icetime" in f["icetime_note"]
    if f["bitstream_bytes"] is not None:
        assert f["bitstream_bytes"] > 100_000      # an HX8K image is 135,100 bytes whatever the design
    assert "nextpnr-ice40" in f["tools"]


@needs_tools
def test_too_many_ports_for_the_package_is_one_error_line_with_the_numbers(monk1_run, capsys, monkeypatch):
    """monk1's 63 port bits do not fit the UP5K's 48-pin package (39 I/O): no place and route,
    the synthesis and packing figures still reported, exit code 1 and one line saying why."""
    monkeypatch.setenv("GATELEARN_QUIET", "1")
    code, r, err = report_json(capsys, str(monk1_run), "--fpga", "ice40-up5k", "--no-bench", "--no-luts")
    assert code == 1
    f = r["fpga"]
    assert f["fits"] is False and f["placed_and_routed"] is False and f["fmax_mhz"] is None
    assert f["lut4s_synthesis"] > 0 and f["logic_cells"] >= f["lut4s_synthesis"]
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gatelearn report: error: ")
    assert f"{f['io_bits']} I/O port bits" in lines[0] and "39 pins" in lines[0] and "ice40-up5k" in lines[0]


@needs_tools
def test_table_shows_the_fpga_rows(monk1_run, capsys, monkeypatch):
    monkeypatch.setenv("GATELEARN_QUIET", "1")
    capsys.readouterr()
    assert main(["report", str(monk1_run), "--fpga", "ice40-hx1k", "--no-bench", "--no-luts"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^FPGA\s+ice40-hx1k \(tq144: 1,280 LUT4s, 96 I/O pins\)$", out, re.M), out
    assert re.search(r"^fits\s+yes$", out, re.M)
    assert re.search(r"^fmax \(nextpnr\)\s+\d+\.\d MHz \(register to register\)", out, re.M)
    assert re.search(r"^FPGA design\s+gatelearn_model_pipe2\.v \(--pipeline 2, latency \d+ cycles\)$", out, re.M)


def test_without_a_pipelined_export_says_which_export_to_run(monk1_run, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(monk1_run, run)
    shutil.rmtree(run / runs.ARTIFACTS_DIR)
    code, _, err = report_json(capsys, str(run), "--fpga", "ice40-hx8k")
    assert code == 2
    assert err.strip().splitlines()[-1] == (
        f"gatelearn report: error: {run} has no exported pipelined Verilog, which --fpga places and routes: "
        f"run `gatelearn export {run} --pipeline 2` first")
    code, _, err = report_json(capsys, str(monk1_run), "--fpga", "ice40-hx8k", "--pipeline", "3")
    assert code == 2 and f"gatelearn export {monk1_run} --pipeline 3" in err


def test_missing_nextpnr_names_the_debian_package(monk1_run, capsys, monkeypatch):
    """Said before any of the report's other (slow) steps run."""
    monkeypatch.setenv("GATELEARN_NEXTPNR_ICE40", "/nonexistent/nextpnr-ice40")
    code, out, err = report_json(capsys, str(monk1_run), "--fpga", "ice40-hx8k")
    assert code == 1 and out == {}
    assert "apt-get install nextpnr-ice40" in err.strip().splitlines()[-1]


def test_hx4k_is_judged_by_its_rated_cells():
    """nextpnr places an HX4K design on all 7,680 cells of the HX8K die it is; Lattice rates it at
    3,520, and that is what fits means."""
    r = ice40.Ice40Result("ice40-hx4k", "tq144", 3_520, 107, TOP, io_bits=60, lut4s_synthesis=3_000,
                          flip_flops_synthesis=2_500, carries_synthesis=0, logic_cells=4_000, fits=False,
                          placed_and_routed=True)
    assert ice40._too_big(r) == ["the design needs 4,000 logic cells after packing (3,000 LUT4s, 2,500 flip-flops) "
                                 "and ice40-hx4k has 3,520"]
    r.logic_cells = 3_520
    assert ice40._too_big(r) == []
    r.io_bits = 108
    assert ice40._too_big(r) == ["the design has 108 I/O port bits and ice40-hx4k's largest package (tq144) has "
                                 "107 pins"]


@needs_tools
def test_icetime_without_its_chip_database_is_a_note(monk1_run, tmp_path, monkeypatch):
    """Debian's fpga-icestorm only recommends the chip database icetime needs: without it the place
    and route figures stand and the note names the package."""
    fake = tmp_path / "icetime"
    fake.write_text("#!/bin/sh\necho \"Can't find chipdb file for device hx8k\" >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("GATELEARN_ICETIME", str(fake))
    r = ice40.flow([monk1_run / runs.ARTIFACTS_DIR / f"{TOP}.v"], TOP, "ice40-hx8k")
    assert r.fits and r.fmax_mhz > 0 and r.icetime_fmax_mhz is None
    assert r.icetime_note == "icetime found no chip database (apt-get install fpga-icestorm-chipdb)"

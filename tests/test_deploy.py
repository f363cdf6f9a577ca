"""The deployment guides work as written: the ```bash blocks of "Deploy to a microcontroller" and
"Deploy to an FPGA" in README.md run in a
fresh folder with the venv's ``gatelearn`` and the system's ``cc``, and what they build answers as
the trained run does: the C program prints, record for record, the class names ``gatelearn
predict`` prints and the model computes; the Verilog is proven, with the input format the text
states. Also: the generated C header carries the class names, escaped for C."""
from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gatelearn
from gatelearn.tools import abc, yosys

ROOT = Path(__file__).resolve().parents[1]
MCU, FPGA = "Deploy to a microcontroller", "Deploy to an FPGA"
# the guides' names (the test checks that the blocks still use them before relying on them)
RUN, PROGRAM, RECORDS = "runs/monk1", "classify", "records.csv"
TRAIN = f"gatelearn train --preset monk1 --iterations 300 --out {RUN}"
C_DIR = f"{RUN}/artifacts/c"


def section(path: Path, heading: str) -> str | None:
    """The text of section ``## heading`` of ``path`` (up to the next ``## ``), or None."""
    text = path.read_text(encoding="utf-8")
    start = text.find(f"## {heading}\n")
    if start < 0:
        return None
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else len(text)]


def bash_block(text: str | None) -> str | None:
    """The first ```bash block of a section."""
    m = re.search(r"^```bash\n(.*?)^```", text or "", re.S | re.M)
    return m.group(1) if m else None


def guide() -> Path:
    return ROOT / "README.md"


def guide_block(heading: str) -> str:
    block = bash_block(section(guide(), heading))
    assert block, f"{guide().name}: no section {heading!r} with a ```bash block"
    return block


def shell_env() -> dict:
    """The environment of the guides' commands: ``gatelearn`` is this venv's (the folder of the
    Python running the tests), ahead of any other on PATH."""
    bin_dir = Path(sys.executable).parent
    assert (bin_dir / "gatelearn").exists(), f"no gatelearn script beside {sys.executable} (pip install -e .)"
    env = dict(os.environ)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    return env


def run_block(block: str, cwd: Path, name: str) -> str:
    """Run a guide's block as one bash script that stops at the first failing command; its stdout."""
    script = cwd / f"{name}.sh"
    script.write_text(block, encoding="utf-8")
    r = subprocess.run(["bash", "-e", "-o", "pipefail", script.name], cwd=cwd, env=shell_env(),
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, f"the {name} guide failed (exit {r.returncode}):\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout


def sh(command: str, cwd: Path) -> list[str]:
    """The output lines of one shell command run as the guides run theirs."""
    r = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", command], cwd=cwd, env=shell_env(),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"{command}: exit {r.returncode}\n{r.stderr[-2000:]}"
    return r.stdout.splitlines()


@pytest.fixture(scope="module")
def mcu(tmp_path_factory):
    """A fresh folder (the checkout's examples/ linked in, as the commands name it) in which the
    microcontroller guide has run; (folder, the block's stdout)."""
    assert shutil.which("cc"), "the guides build with cc; install a C compiler"
    work = tmp_path_factory.mktemp("deploy")
    (work / "examples").symlink_to(ROOT / "examples", target_is_directory=True)
    # the run the guides start from, trained as the text says (the Quick start's longer run
    # works the same)
    text = section(guide(), MCU)
    assert TRAIN in text, f"the microcontroller guide no longer names {TRAIN!r}; update this test"
    run_block(TRAIN, work, "train")
    block = guide_block(MCU)
    for used in ( f"-o {PROGRAM}", f"./{PROGRAM} < {RECORDS}", f"gatelearn predict {RUN} --input {RECORDS}"):
        assert used in block, f"the microcontroller guide no longer has {used!r}; update this test"
    return work, run_block(block, work, "microcontroller")


def test_microcontroller_guide_prints_what_predict_prints(mcu):
    work, out = mcu
    records = [ln for ln in (work / RECORDS).read_text().splitlines() if ln.strip()]
    c_names = sh(f"./{PROGRAM} < {RECORDS}", work)
    py_names = sh(f"gatelearn predict {RUN} --input {RECORDS}", work)
    assert len(records) >= 3 and c_names == py_names and len(c_names) == len(records)
    # the guide's own run printed them (./classify's lines, then predict's)
    assert "\n".join(c_names + py_names) + "\n" in out


def test_microcontroller_program_equals_the_model_on_the_test_set(mcu):
    """Every MONK-1 test record through the C program: the trained model's classes, by name."""
    import torch

    from gatelearn.data import load_dataset
    work, _ = mcu
    ds = load_dataset("monk1")
    np.savetxt(work / "test.csv", ds.x_test, delimiter=",", fmt="%d")
    model = gatelearn.load(work / RUN).eval()
    with torch.no_grad():
        want = model(torch.from_numpy(ds.x_test)).argmax(1).numpy()
    got = sh(f"./{PROGRAM} < test.csv", work)
    assert got == [model.class_names[k] for k in want]
    assert len(got) == len(ds.x_test) == 432


def test_microcontroller_program_refuses_bad_records(mcu):
    work, _ = mcu
    for bad in ("1,2\n", "0,0,0,0,0,0,\n", "0,0,x,0,0,0\n", "0,0,0,0,0,0 7\n"):
        r = subprocess.run([f"./{PROGRAM}"], cwd=work, input=bad, capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and "line 1: expected 6 comma-separated numbers" in r.stderr, bad
    # blank lines are skipped, spaces and CRLF line ends accepted
    r = subprocess.run([f"./{PROGRAM}"], cwd=work, input="\n 0 , 0,0,0,0,0 \r\n\n", capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.splitlines() == sh(f"echo 0,0,0,0,0,0 | ./{PROGRAM}", work)


def test_generated_c_is_clean_c99_without_openmp(mcu):
    """The network and the example build as strict C99 without a warning (no OpenMP pragma left
    for compilers without it); the header's constant workspace size is the function's."""
    work, _ = mcu
    flags = ["-std=c99", "-O2", "-Wall", "-Wextra", "-pedantic", "-Werror"]
    sources = ["examples/mcu/classify.c", f"{C_DIR}/gatelearn_net.c"]
    subprocess.run(["cc", *flags, "-DGL_PORTABLE", "-I", C_DIR, *sources, "-o", "strict"], cwd=work, check=True,
                   timeout=300)
    # the vector build too leaves no OpenMP pragma behind (GCC notes the vector ABI there, so no -Werror)
    r = subprocess.run(["cc", *flags[:-1], "-c", f"{C_DIR}/gatelearn_net.c", "-o", "simd.o"], cwd=work,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "pragma" not in r.stderr, r.stderr
    assert sh("./strict < records.csv", work) == sh(f"./{PROGRAM} < records.csv", work)
    # built with SIMD words the static buffer is too small, and the program says so
    subprocess.run(["cc", "-O2", "-march=native", "-I", C_DIR, *sources, "-o", "wide"], cwd=work, check=True,
                   capture_output=True, timeout=300)
    r = subprocess.run(["./wide"], cwd=work, input="0,0,0,0,0,0\n", capture_output=True, text=True, timeout=60)
    if r.returncode == 2:
        assert "build with -DGL_PORTABLE" in r.stderr
    else:    # a machine without vector units: the words are 64 bits anyway
        assert r.returncode == 0
    header = (work / C_DIR / "gatelearn_net.h").read_text()
    assert '#define GATELEARN_NET_CLASS_NAMES {"0", "1"}' in header
    words = int(re.search(r"\(\(\(size_t\)(\d+) \+ 7\) / 8\) \* 8", header).group(1))
    subprocess.run(["cc", "-O2", "-DGL_PORTABLE", "-shared", "-fPIC", f"{C_DIR}/gatelearn_net.c",
                    "-o", "libportable.so"], cwd=work, check=True, timeout=300)
    plib = ctypes.CDLL(str(work / "libportable.so"))
    plib.gatelearn_net_workspace_bytes.restype = ctypes.c_size_t
    plib.gatelearn_net_workspace_bytes.argtypes = [ctypes.c_int]
    assert plib.gatelearn_net_workspace_bytes(1) == (words + 7) // 8 * 64


def test_fpga_guide_proves_the_verilog_in_the_stated_format(mcu):
    if not (abc.available() and yosys.available()):
        pytest.skip("the FPGA guide needs ABC (berkeley-abc) and yosys")
    work, _ = mcu
    block = guide_block(FPGA)
    assert f"gatelearn verify {RUN}" in block and f"gatelearn report {RUN}" in block
    out = run_block(block, work, "fpga")
    report = json.loads((work / RUN / "verify.json").read_text())
    assert report["ok"] and not report["failed"]
    assert {"artifacts/gatelearn_model.v", "artifacts/gatelearn_model_pipe2.v",
            "artifacts/net.aig", "artifacts/net.blif"} <= set(report["proven"])
    # what the text says of MONK-1's input format, as the header prints it and the proof used it
    assert "x: 6 features of 8 bits, feature f = x[f*8 +: 8]" in out and "k = 0 for every feature" in out
    manifest = json.loads((work / RUN / "artifacts" / "manifest.json").read_text())
    top = next(e for e in manifest["artifacts"] if e["file"] == "gatelearn_model.v")
    assert top["spec"]["width"] == 8 and set(top["spec"]["frac_bits"]) == {0} and not top["spec"]["grid_only"]
    assert re.search(r"6-LUTs, whole design\s+\d+", out) and re.search(r"pipeline latency.*_pipe2: \d+", out)


# ------------------------------------------------------------------------------ class names in C

def test_c_header_carries_escaped_class_names(tmp_path):
    """NAME_class_name(k) returns the circuit's class names byte for byte, whatever they hold;
    without names (or with a list that does not fit) the indices."""
    from gatelearn.backends import compile_circuit
    from gatelearn.backends.c.emit import generate_c
    from gatelearn.circuit.random import random_circuit
    c = random_circuit(np.random.default_rng(0), 8, 40, 5, 3)
    names = ['say "hi"', "back\\slash", "??/ trigraph", "café 7", "tab\there\n"]
    c.meta["class_names"] = names
    lib = compile_circuit(c, "c").lib
    lib.gatelearn_net_class_name.restype = ctypes.c_char_p
    lib.gatelearn_net_class_name.argtypes = [ctypes.c_int]
    assert [lib.gatelearn_net_class_name(k).decode() for k in range(5)] == names
    assert lib.gatelearn_net_class_name(5) is None and lib.gatelearn_net_class_name(-1) is None
    # the same list as an initializer a program can use without a call, in strict C99 (trigraphs on)
    (tmp_path / "n.c").write_text('#include <stdio.h>\n#include "gatelearn_net.h"\n'
                                  "static const char *const N[] = GATELEARN_NET_CLASS_NAMES;\n"
                                  'int main(void) { int k; for (k = 0; k < 5; k++) printf("%s|", N[k]); return 0; }\n')
    generate_c(c).write(tmp_path)
    subprocess.run(["cc", "-std=c99", "-Wall", "-Werror", "-I", ".", "n.c", "-o", "n"],
                   cwd=tmp_path, check=True, timeout=300)
    assert subprocess.run(["./n"], cwd=tmp_path, capture_output=True, timeout=60).stdout.decode() == \
        "|".join(names) + "|"
    for meta in ({}, {"class_names": ["only", "four", "of", "five"]}, {"class_names": [1, 2, 3, 4, 5]}):
        c.meta = dict(meta)
        assert '#define GATELEARN_NET_CLASS_NAMES {"0", "1", "2", "3", "4"}' in generate_c(c)["gatelearn_net.h"]

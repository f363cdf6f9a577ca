"""The README's Python example runs as written (with the data folder of this checkout)."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MNIST = ROOT.parent / "shared" / "datasets"


@pytest.mark.skipif(not (MNIST / "mnist").is_dir(), reason="../shared/datasets/mnist not present")
def test_readme_python_example(tmp_path, monkeypatch):
    text = (ROOT / "README.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    assert "assert torch.equal" in code      # the example checks C against the model itself
    code = code.replace('"../shared/datasets"', repr(str(MNIST)))
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    assert (tmp_path / "runs" / "readme" / "model.safetensors").exists()

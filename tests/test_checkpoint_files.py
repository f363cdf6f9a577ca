"""Damaged or edited checkpoints: every tensor is checked against the model, the optimizer and
the batch sampler before a resume, and the JSON part field by field, so a bad file is one
FileFormatError line naming it, never a resumed run that trains into NaN or a traceback."""
from __future__ import annotations

import json
import shutil

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from gatelearn.errors import FileFormatError
from gatelearn.training import CHECKPOINT_FILE, train
from gatelearn.training.checkpoint import load_checkpoint, read_checkpoint_info
from test_training import toy_config, toy_dataset


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory):
    """A run stopped at iteration 20 (its checkpoint), with a validation split (a best state)."""
    d = tmp_path_factory.mktemp("run")
    train(toy_config(iterations=20, checkpoint_every=20, eval_every=10, validation=0.25, keep="best"), d,
          progress=False, dataset=toy_dataset())
    return d


def _edited(stopped_run, tmp_path, tensors=None, doc=None):
    """A copy of the run with its checkpoint's tensors and/or JSON document edited."""
    run = tmp_path / "run"
    shutil.copytree(stopped_run, run)
    file = run / CHECKPOINT_FILE
    state = load_file(str(file))
    with safe_open(str(file), framework="pt") as fh:
        meta = fh.metadata()
    if tensors is not None:
        tensors(state)
    if doc is not None:
        d = json.loads(meta["gatelearn_checkpoint"])
        new = doc(d)          # edits change d in place; one replaces the document by a list
        d = new if isinstance(new, list) else d
        meta = {"gatelearn_checkpoint": json.dumps(d)}
    save_file(state, str(file), metadata=meta)
    return run


def _set(key, value):
    def edit(state):
        state[key] = value
    return edit


def _poke(key, index, value):
    def edit(state):
        state[key][index] = value
    return edit


def _info(**changes):
    def edit(doc):
        for k, v in changes.items():
            if v is None:
                doc["info"].pop(k)
            else:
                doc["info"][k] = v
    return edit


BAD_TENSORS = {
    "3-element exp_avg": (_set("optim/0/exp_avg", torch.zeros(3)), r"optim/0/exp_avg is torch.float32 of shape \(3,\)"),
    "float64 exp_avg_sq": (lambda s: s.update({"optim/1/exp_avg_sq": s["optim/1/exp_avg_sq"].double()}),
                           r"optim/1/exp_avg_sq is torch.float64"),
    "NaN moment": (_poke("optim/0/exp_avg_sq", (0, 0), float("nan")), r"optim/0/exp_avg_sq holds non-finite"),
    "missing step": (lambda s: s.pop("optim/1/step"), r"parameter 1 holds \['exp_avg', 'exp_avg_sq'\]"),
    "step not a scalar": (_set("optim/0/step", torch.zeros(4)), r"optim/0/step is torch.float32 of shape \(4,\)"),
    "state of a parameter the model lacks": (_set("optim/7/step", torch.tensor(1.0)), r"parameter 7"),
    "index not a number": (_set("optim/x/step", torch.tensor(1.0)), r"'optim/x/step' does not name"),
    "negative wiring": (_poke("model/layers.0.idx_a", 0, -1), r"model/layers\.0\.idx_a holds -1"),
    "NaN weight": (_poke("model/layers.1.weight", (0, 0), float("nan")), r"model/layers\.1\.weight holds nan"),
    "best state of another shape": (_set("best/layers.0.weight", torch.zeros(2, 16)),
                                    r"best/layers\.0\.weight has shape"),
    "3-byte RNG state": (_set("rng/torch", torch.zeros(3, dtype=torch.uint8)),
                         r"rng/torch is torch.uint8 of shape \(3,\)"),
    "generator state missing": (lambda s: s.pop("rng/batch_generator"), r"rng/batch_generator is missing"),
    "not a permutation": (lambda s: s["rng/batch_perm"].zero_(), r"rng/batch_perm is not a permutation"),
    "unknown tensor": (_set("other/x", torch.zeros(1)), r"unexpected tensor 'other/x'"),
}
BAD_DOCS = {
    "missing info": (lambda d: d.pop("info"), r"no 'info' object"),
    "info not an object": (lambda d: d.update(info=[1]), r"no 'info' object"),
    "iteration not a number": (_info(iteration="abc"), r"'iteration' must be an integer >= 0, got 'abc'"),
    "negative iteration": (_info(iteration=-4), r"'iteration' must be an integer >= 0"),
    "fractional iteration": (_info(iteration=2.5), r"'iteration' must be an integer"),
    "missing loss count": (_info(loss_count=None), r"'loss_count' is missing"),
    "metrics not a list": (_info(metrics={"a": 1}), r"'metrics' must be a list"),
    "batch position past the rows": (_info(batch_pos=10 ** 9), r"'batch_pos' is 1000000000, past"),
    "lr not a number": (lambda d: d["optimizer"]["param_groups"][0].update(lr="abc"), r"setting 'lr' is 'abc'"),
    "betas of the wrong length": (lambda d: d["optimizer"]["param_groups"][0].update(betas=[0.9]), r"'betas'"),
    "two parameter groups": (lambda d: d["optimizer"]["param_groups"].append(d["optimizer"]["param_groups"][0]),
                             r"2 parameter groups"),
    "no optimizer": (lambda d: d.pop("optimizer"), r"'optimizer' metadata"),
    "metadata not an object": (lambda d: [1, 2], r"not a JSON object"),
}


def _refused(run, pattern):
    with pytest.raises(FileFormatError, match=pattern) as info:
        train({"iterations": 30}, run, resume=True, progress=False, dataset=toy_dataset())
    message = str(info.value)
    assert str(run / CHECKPOINT_FILE) in message and "\n" not in message, message


@pytest.mark.parametrize("case", BAD_TENSORS)
def test_resume_refuses_bad_tensors(stopped_run, tmp_path, case):
    edit, pattern = BAD_TENSORS[case]
    _refused(_edited(stopped_run, tmp_path, tensors=edit), pattern)


@pytest.mark.parametrize("case", BAD_DOCS)
def test_resume_refuses_bad_json(stopped_run, tmp_path, case):
    edit, pattern = BAD_DOCS[case]
    _refused(_edited(stopped_run, tmp_path, doc=edit), pattern)


def test_reading_the_info_alone_checks_it_too(stopped_run, tmp_path):
    run = _edited(stopped_run, tmp_path, doc=_info(iteration="abc"))
    with pytest.raises(FileFormatError, match="'iteration' must be an integer"):
        read_checkpoint_info(run / CHECKPOINT_FILE)


def test_an_untouched_checkpoint_still_resumes(stopped_run, tmp_path):
    run = _edited(stopped_run, tmp_path)
    assert load_checkpoint(run / CHECKPOINT_FILE)["info"]["iteration"] == 20
    assert train({"iterations": 30}, run, resume=True, progress=False, dataset=toy_dataset())["iterations"] == 30

"""Train a convolutional logic gate network preset and report the hard (discrete) test accuracy.

A self-contained training loop (it does not need the `gatelearn train` CLI), so the conv
figures can be measured on their own:

    .venv/bin/python benchmarks/conv_accuracy.py --preset mnist-conv-s --out runs/mnist-conv-s \
        --threads 1 --data-dir ../shared/datasets [--iterations N] [--minutes M]

Every ``--eval-every`` steps it evaluates the hard network (``model.eval()``: binary inputs,
argmax gates) on the whole test set and appends a JSON line to OUT/metrics.jsonl (step, wall
seconds, train loss, hard test accuracy, gates); the best model so far is saved to OUT (the
gatelearn safetensors format, loadable with gatelearn.model.load). ``--minutes`` stops training
after that much wall time (then evaluates once more).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gatelearn.data import load_dataset
from gatelearn.layers.encoders import apply_encoder_override
from gatelearn.model import build_model, save
from gatelearn.training.presets import layer_specs, make_config


def build_from_preset(config: dict, ds) -> torch.nn.Module:
    """The model of a preset on a dataset: the dataset's encoder (reshaped by the preset's
    ``encoder`` override), the preset's layers, a GroupSum head with the preset's tau."""
    enc = apply_encoder_override(ds.make_encoder(), config.get("encoder"))
    spec = {"encoder": enc.spec(), "layers": layer_specs(config),
            "head": {"kind": "groupsum", "classes": ds.classes, "tau": config["tau"]},
            "seed": config.get("seed", 0)}
    model = build_model(spec)
    model.encoder.load_state_dict(enc.state_dict())
    return model


@torch.no_grad()
def hard_accuracy(model, x: np.ndarray, y: np.ndarray, batch: int = 1000) -> float:
    model.eval()
    correct = 0
    for i in range(0, len(x), batch):
        xb = torch.from_numpy(x[i:i + batch].astype(np.float32))
        correct += int((model(xb).argmax(1).numpy() == y[i:i + batch]).sum())
    model.train()
    return correct / len(x)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="mnist-conv-s")
    ap.add_argument("--out", required=True)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--iterations", type=int, default=None)
    ap.add_argument("--minutes", type=float, default=None, help="stop after this much wall time")
    ap.add_argument("--eval-every", type=int, default=None)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    config = make_config(args.preset, iterations=args.iterations, eval_every=args.eval_every, lr=args.lr,
                         batch_size=args.batch_size, seed=args.seed)
    ds = load_dataset(config["dataset"], data_dir=args.data_dir, download=False)
    model = build_from_preset(config, ds)
    if config["optimizer"] == "adamw":
        opt = torch.optim.AdamW(model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"])
    else:
        opt = torch.optim.Adam(model.parameters(), lr=config["lr"], weight_decay=config["weight_decay"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    log = open(out / "metrics.jsonl", "a")
    rng = np.random.default_rng(args.seed)
    x_train = ds.x_train
    y_train = torch.from_numpy(ds.y_train)
    n, bs = len(x_train), config["batch_size"]
    gates = model.num_gates()
    print(f"{args.preset}: {gates} learned gates, {sum(p.numel() for p in model.parameters())} parameters, "
          f"{args.threads} thread(s)", flush=True)
    best, t0, losses, perm, pos = -1.0, time.time(), [], rng.permutation(n), 0
    step = 0
    while step < config["iterations"]:
        if pos + bs > n:
            perm, pos = rng.permutation(n), 0
        idx = perm[pos:pos + bs]
        pos += bs
        xb = torch.from_numpy(x_train[idx].astype(np.float32))
        loss = F.cross_entropy(model(xb), y_train[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        step += 1
        out_of_time = args.minutes is not None and time.time() - t0 > 60 * args.minutes
        if step % config["eval_every"] == 0 or step == config["iterations"] or out_of_time:
            train_s = time.time() - t0
            acc = hard_accuracy(model, ds.x_test, ds.y_test)
            rec = {"step": step, "train_seconds": round(train_s, 1), "loss": round(float(np.mean(losses)), 4),
                   "test_hard_accuracy": acc, "gates": gates, "threads": args.threads}
            losses = []
            if acc > best:
                best = acc
                save(model, out)
                rec["saved"] = True
            print(json.dumps(rec), flush=True)
            log.write(json.dumps(rec) + "\n")
            log.flush()
            t0 += time.time() - t0 - train_s   # evaluation time does not count as training time
            if out_of_time:
                break
    print(f"best hard test accuracy {best:.4f} ({gates} gates); model in {out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

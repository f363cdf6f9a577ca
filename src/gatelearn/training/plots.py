"""Run plots: accuracy curves and the gate kinds used per layer (matplotlib, Agg backend)."""
from __future__ import annotations

import os
from pathlib import Path

from ..fileio import atomic_path
from ..gates import GATES, NUM_GATES


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")   # no display: runs on servers, in tests and under torchrun
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path: Path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")


def plot_accuracy(metrics: list[dict], path: str | os.PathLike, title: str = "",
                  kept_at: int | None = None) -> Path:
    """Relaxed and hard (discrete) accuracy on held-out data against the iteration; ``kept_at``:
    the iteration of the model the run kept, when not the last (a dashed line, and the title's figures)."""
    plt = _pyplot()
    path = Path(path)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    its = [m["iteration"] for m in metrics]
    curves = [("relaxed_accuracy", "relaxed (test)", "tab:blue", "-"),
              ("hard_accuracy", "hard / discrete (test)", "tab:red", "-"),
              ("val_relaxed_accuracy", "relaxed (validation)", "tab:blue", ":"),
              ("val_hard_accuracy", "hard (validation)", "tab:red", ":")]
    for key, label, color, style in curves:
        pts = [(i, 100 * m[key]) for i, m in zip(its, metrics) if m.get(key) is not None]
        if pts:
            ax.plot(*zip(*pts), style, color=color, label=label, marker="o" if len(pts) < 30 else None, ms=3)
    ax.set_xlabel("iteration")
    ax.set_ylabel("accuracy (%)")
    ax.grid(alpha=0.3)
    if metrics:
        shown = next((m for m in metrics if m["iteration"] == kept_at), metrics[-1])
        note = ""
        if kept_at is not None:
            ax.axvline(kept_at, color="gray", ls="--", lw=1, label=f"kept (best validation), it {kept_at}")
            note = f" at it {kept_at}"
        ax.set_title(f"{title}  hard {100 * shown['hard_accuracy']:.2f}%{note}, "
                     f"gap {100 * shown['gap']:+.2f} pts".strip(), fontsize=10)
    ax.legend(loc="lower right", fontsize=8)
    _save(fig, path)
    plt.close(fig)
    return path


def plot_gates(usage: dict, path: str | os.PathLike, title: str = "") -> Path:
    """Stacked bars: per layer, how many used gates compute each of the 16 functions."""
    plt = _pyplot()
    path = Path(path)
    layers = [p for p in usage["layers"] if p["kinds"] is not None]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.0 + 0.9 * len(layers)), 4.6))
    x = list(range(len(layers)))
    bottom = [0] * len(layers)
    cmap = plt.get_cmap("tab20")
    for g in range(NUM_GATES):
        heights = [p["kinds"][g] for p in layers]
        if any(heights):
            ax.bar(x, heights, bottom=bottom, color=cmap(g), label=f"{g} {GATES[g].name}",
                   edgecolor="white", linewidth=0.3)
            bottom = [b + h for b, h in zip(bottom, heights)]
    for xi, p in zip(x, layers):
        ax.text(xi, bottom[xi], f"{p['used']}/{p['gates']}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(x, [f"layer {p['layer']}" for p in layers], fontsize=8)
    ax.set_ylabel("used gates")
    ax.set_title(f"{title}  gate kinds used per layer (used/total on top); "
                 f"{usage['gates_used']} of {usage['gates']} gates used".strip(), fontsize=9)
    handles, labels = ax.get_legend_handles_labels()
    # Reversed so the legend reads top to bottom like the stacks.
    ax.legend(handles[::-1], labels[::-1], loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7,
              frameon=False)
    _save(fig, path)
    plt.close(fig)
    return path

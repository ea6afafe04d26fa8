"""The report's figure: validation accuracy per epoch for every job, and the final metric
against each swept value. Drawn with matplotlib's object API, as figures.py draws TensorBoard's:
no pyplot, no backend chosen, nothing global touched."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, NullFormatter

if TYPE_CHECKING:
    from fashion_resnet.report import Job


def fmt(x: str) -> str:
    try:
        return f"{float(x):.3g}"
    except ValueError:
        return x


MAX_PANELS = 3  # swept values plotted against the metric; more keys make unreadable panels


def plot(jobs: list[Job], keys: list[str], path: Path, metric: str | None = None) -> None:
    done = [j for j in jobs if j.metrics]
    if metric is None:
        tested = done and all(j.get("test/acc") is not None for j in done)
        metric = "test/acc" if tested else "val/acc_best"
    swept = [k for k in keys if k != "seed"][:MAX_PANELS] if done else []
    fig = Figure(figsize=(6 + 4 * len(swept), 4.5))
    axes = fig.subplots(1, 1 + len(swept), squeeze=False)
    curves = axes[0, 0]
    for j in jobs:
        if j.curve:
            epochs, acc = zip(*j.curve, strict=True)
            values = ", ".join(fmt(j.overrides.get(k, "")) for k in keys)
            curves.plot(epochs, acc, marker="o", ms=3, label=f"{j.name}: {values}"[:50])
    curves.set(xlabel="epoch", ylabel="val/acc", title="validation accuracy per epoch")
    curves.xaxis.set_major_locator(MaxNLocator(integer=True))
    curves.grid(alpha=0.3)
    if any(j.curve for j in jobs):
        curves.legend(fontsize=7, title=", ".join(keys)[:60] or None, title_fontsize=7)
    else:  # e.g. a debug=fdr sweep: its one batch logs no epoch
        empty(curves, "no epochs logged yet (debug=fdr runs log none)")
    for ax, key in zip(axes[0, 1:], swept, strict=True):
        against(ax, [(j.overrides.get(key, ""), j.get(metric)) for j in done], key, metric)
    fig.tight_layout()
    fig.savefig(path, dpi=110)  # Figure.savefig renders with Agg for a .png: no display needed


def against(ax, points: list[tuple[str, float | None]], key: str, metric: str) -> None:
    """Numbers on a (log, when they span >= 10x) axis; anything else as categories."""
    points = [(x, y) for x, y in points if y is not None]
    try:
        xs = [float(x) for x, _ in points]
    except ValueError:
        names = list(dict.fromkeys(x for x, _ in points))
        xs = [names.index(x) for x, _ in points]
        ax.set_xticks(range(len(names)), names, rotation=30, fontsize=8)
    else:
        if xs and min(xs) > 0 and max(xs) / min(xs) >= 10:
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(NullFormatter())
    if not points:
        empty(ax, f"no finished job has {metric}")
    ax.scatter(xs, [y for _, y in points])
    ax.set(xlabel=key, ylabel=metric, title=f"{metric} by {key}")
    ax.grid(alpha=0.3)
    if any(math.isnan(y) for _, y in points):
        ax.text(0.02, 0.02, "NaN values not shown", transform=ax.transAxes, fontsize=7)


def empty(ax, why: str) -> None:
    """Say why a panel has nothing to draw, rather than show empty axes."""
    ax.text(0.5, 0.5, why, transform=ax.transAxes, ha="center", va="center", fontsize=9)

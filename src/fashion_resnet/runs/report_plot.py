"""The report's figures: validation accuracy per epoch for every job and the final metric
against each swept value (report.png); chosen metrics per epoch, one panel each (curves.png).
Drawn with matplotlib's object API, as figures.py draws TensorBoard's: no pyplot, no backend
chosen, nothing global touched."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, NullFormatter

if TYPE_CHECKING:
    from fashion_resnet.report import Job
    from fashion_resnet.runs.history import Curve


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


COMPLEMENT = "1-"  # a curve `1-train/acc` draws one minus train/acc: the training error
LINESTYLES = ("-", "--", ":", "-.")  # after the 10 colours, jobs 10-19 dashed, and so on


def logged_metric(curve: str) -> str:
    """The logged metric a curve draws: `1-train/acc` draws train/acc."""
    return curve.removeprefix(COMPLEMENT)


def series(job: Job, curve: str) -> Curve:
    points = job.history.get(logged_metric(curve), [])
    return [(e, 1 - v) for e, v in points] if curve.startswith(COMPLEMENT) else points


def title(curve: str) -> str:
    metric = logged_metric(curve)
    if metric == curve:
        return metric
    error = " (error)" if metric.endswith("/acc") else ""
    return f"1 - {metric}{error}"


def job_label(job: Job, keys: list[str]) -> str:
    """The job and what differs: `2: model=resnet34 model.net.residual=false`."""
    values = " ".join(f"{k}={fmt(job.overrides.get(k, ''))}" for k in keys)
    return f"{job.name}: {values}"[:70] if values else job.name


def curves(jobs: list[Job], keys: list[str], names: list[str], path: Path) -> Figure:
    """One panel per curve, one line per job that logged it, each job one colour throughout;
    one legend for the figure. Returns the Figure (saved to `path`)."""
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig = Figure(figsize=(4.5 * cols + 3, 3.6 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    handles = {}
    for ax, name in zip(axes, names, strict=False):
        for i, j in enumerate(jobs):
            if points := series(j, name):
                epochs, values = zip(*points, strict=True)
                style = {"color": f"C{i % 10}", "linestyle": LINESTYLES[i // 10 % len(LINESTYLES)]}
                line = ax.plot(epochs, values, marker="o", ms=3, **style, label=job_label(j, keys))
                handles.setdefault(line[0].get_label(), line[0])
        ax.set(xlabel="epoch", ylabel=title(name), title=title(name))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if not ax.lines:
            empty(ax, f"no job logged {logged_metric(name)} per epoch")
    for ax in axes[len(names) :]:
        ax.remove()  # a grid's unused cells
    if handles:
        fig.legend(handles.values(), handles.keys(), loc="outside right upper", fontsize=7)
    fig.savefig(path, dpi=110)
    return fig

"""A reference run's per-epoch figures beside the notebook's own (notebook_epochs.json, the lines
its training cell printed): a Markdown table (epochs.md) and one plot (epochs.png).

    python scripts/notebook_epochs.py logs/train/runs/<stamp>             # writes into the run
    python scripts/notebook_epochs.py <run dir> --out docs/results/<name>/

The run is `fashion-train experiment=reference`: with data.val_size=0 it validates on the 10k
test set after every epoch, as the notebook did, so its val/acc is the notebook's test acc.
Its values are read back from its logs (fashion_resnet.runs.history).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from matplotlib.figure import Figure

from fashion_resnet.runs.history import Curve, epoch_values

NOTEBOOK = Path(__file__).with_name("notebook_epochs.json")
# (the run's metric, the notebook's column, the table's heading)
COLUMNS = [("train/loss", "train/loss", "train loss"), ("train/acc", "train/acc", "train acc"),
           ("val/acc", "test/acc", "test acc")]  # fmt: skip


def notebook_epochs(path: Path = NOTEBOOK) -> dict[str, Curve]:
    """The notebook's table as curves: column -> [(epoch, value)]."""
    saved = json.loads(path.read_text())
    rows = [dict(zip(saved["columns"], row, strict=True)) for row in saved["rows"]]
    return {c: [(int(r["epoch"]), r[c]) for r in rows] for c in saved["columns"][1:]}


def table(ours: dict[str, Curve], notebook: dict[str, Curve]) -> str:
    header = ["epoch"] + [f"{h} ({who})" for *_, h in COLUMNS for who in ("notebook", "ours")]
    theirs = {c: dict(notebook[c]) for _, c, _ in COLUMNS}
    mine = {m: dict(ours[m]) for m, _, _ in COLUMNS}
    epochs = sorted(set().union(*theirs.values(), *mine.values()))
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for e in epochs:
        cells = [str(e)]
        for m, c, _ in COLUMNS:
            cells += [num(theirs[c].get(e)), num(mine[m].get(e))]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def num(x: float | None) -> str:
    return "" if x is None else f"{x:.4f}"  # the notebook's 4 decimals


def summary(ours: dict[str, Curve], notebook: dict[str, Curve], metrics: dict) -> str:
    last = max(e for e, _ in notebook["test/acc"])
    mine = dict(ours["val/acc"]).get(last)
    said = [f"Test accuracy after epoch {last}: notebook {num(dict(notebook['test/acc'])[last])}, "
            f"ours {num(mine) or 'not reached'}."]  # fmt: skip
    if metrics.get("test/acc") is not None:
        said.append(f"metrics.json's test/acc, {num(metrics['test/acc'])}, is the best epoch's "
                    "checkpoint, chosen by val/acc on these same test images.")  # fmt: skip
    if metrics.get("elapsed_s") is not None:
        said.append(f"The run took {metrics['elapsed_s']:.0f} s (metrics.json's elapsed_s).")
    return " ".join(said)


def plot(ours: dict[str, Curve], notebook: dict[str, Curve], path: Path) -> Figure:
    """Loss (left) and accuracies (right) per epoch: the notebook dashed, the run solid."""
    fig = Figure(figsize=(10, 4), layout="constrained")
    loss, acc = fig.subplots(1, 2)
    for i, (m, c, heading) in enumerate(COLUMNS):
        ax = loss if m == "train/loss" else acc
        for curve, style, who in ((notebook[c], "--", "notebook"), (ours[m], "-", "ours")):
            if curve:
                epochs, values = zip(*curve, strict=True)
                ax.plot(epochs, values, style, marker="o", ms=3, color=f"C{i}",
                        label=f"{heading} ({who})")  # fmt: skip
    loss.set(xlabel="epoch", ylabel="train loss", title="training loss")
    acc.set(xlabel="epoch", ylabel="accuracy", title="train and test accuracy")
    for ax in (loss, acc):
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.savefig(path, dpi=110)
    return fig


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("run", type=Path, help="the run folder of fashion-train experiment=reference")
    p.add_argument("--out", type=Path, help="where epochs.md and epochs.png go (default: the run)")
    args = p.parse_args(argv)
    out = args.out or args.run
    out.mkdir(parents=True, exist_ok=True)
    ours = epoch_values(args.run, [m for m, _, _ in COLUMNS])
    if not any(ours.values()):
        p.error(f"{args.run} has no per-epoch train/loss, train/acc or val/acc in its logs")
    notebook = notebook_epochs()
    metrics_file = args.run / "metrics.json"
    metrics = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    text = (f"# The reference recipe per epoch, beside the notebook's\n\n{table(ours, notebook)}"
            f"\n\n{summary(ours, notebook, metrics)}\n")  # fmt: skip
    (out / "epochs.md").write_text(text)
    plot(ours, notebook, out / "epochs.png")
    print(text + f"\nWrote {out / 'epochs.md'}, {out / 'epochs.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

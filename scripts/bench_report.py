"""The benchmark's Markdown tables and summary figures, from every run's raw figures.

Each figure is the median over the repeats with its range [min-max]. Lightning's cost is taken
per round (contenders run interleaved, one round after another): a row's ms/step over the plain
loop's in the same round, minus 1, so that a load change between rounds does not enter it.
"""

from __future__ import annotations

import statistics
from typing import Any

Runs = dict[str, list[dict[str, Any]]]  # contender -> one dict of raw figures per round


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def ms_per_step(run: dict[str, Any]) -> float:
    return 1000 * run["batch_size"] / run["images_per_s"]


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def fmt(s: dict[str, float], f: str = ".1f", unit: str = "") -> str:
    if s["min"] == s["max"]:
        return f"{s['median']:{f}}{unit}"
    return f"{s['median']:{f}}{unit} [{s['min']:{f}}, {s['max']:{f}}]"


def per_round(runs: Runs, name: str, base: str, relative: bool) -> dict[str, float]:
    """`name` against `base` in each round: ms/step ratio - 1 (relative) or ms difference."""
    pairs = zip(runs[name], runs[base], strict=True)
    if relative:
        return spread([ms_per_step(a) / ms_per_step(b) - 1 for a, b in pairs])
    return spread([ms_per_step(a) - ms_per_step(b) for a, b in pairs])


def label(name: str) -> str:
    kind, _, variant = name.partition(":")
    return {
        "ref": "reference loop (notebook)",
        "plain": f"plain loop, project batches and net ({variant})",
        "bare": f"bare Trainer.fit ({variant})",
        "shipped": f"fashion-train as shipped ({variant})",
    }[kind]


def report(cfg: dict[str, Any], pipe: Runs, train: Runs, tiny: Runs | None) -> tuple[str, dict]:
    """cfg: image_size, batch_size, pipeline_batch_size, tiny sizes, device, variants; `tiny`
    None: no tiny-step section was run."""
    mem = "max allocated MiB" if cfg["device"] == "cuda" else "peak PSS MiB"
    v0 = cfg["variants"][0]
    ref_pipe = spread([r["images_per_s"] for r in pipe["pipe_ref"]])
    ours_pipe = spread([r["images_per_s"] for r in pipe["pipe_ours"]])
    pipe_ratio = ours_pipe["median"] / ref_pipe["median"]
    n = len(train["ref"])
    out = [f"Input pipeline ({cfg['pipeline_batch_size']} images/batch, {cfg['image_size']} px; "
           f"median [min, max] of {n} runs):", ""]  # fmt: skip
    out.append(table(["pipeline", "images/s", "vs reference"], [
        ["reference: PIL Resize+ToTensor, DataLoader workers", fmt(ref_pipe, ".0f"), "1.00x"],
        ["project: uint8 batches, batched resize on the device", fmt(ours_pipe, ".0f"),
         f"{pipe_ratio:.2f}x"],
    ]))  # fmt: skip
    ref = spread([r["images_per_s"] for r in train["ref"]])
    out += ["", f"Training (ResNet-18, {cfg['image_size']} px, batch {cfg['batch_size']}; "
            f"median [min, max] of {n} runs):", ""]  # fmt: skip
    rows = []
    for name, rs in train.items():
        ips = spread([r["images_per_s"] for r in rs])
        rows.append([label(name), fmt(ips), fmt(spread([ms_per_step(r) for r in rs])),
                     f"{statistics.median(r['peak_mib'] for r in rs):.0f}",
                     f"{ips['median'] / ref['median']:.2f}x"])  # fmt: skip
    out.append(table(["loop", "images/s", "ms/step", mem, "vs reference"], rows))
    layers = [f"bare:{v0}", f"shipped:{v0}"]
    cost = {k: per_round(train, k, f"plain:{v0}", relative=True) for k in layers}
    fixed = {k: per_round(tiny, k, f"plain:{v0}", relative=False) for k in layers} if tiny else {}
    tiny_cost = {k: per_round(tiny, k, f"plain:{v0}", relative=True) for k in layers} if tiny \
        else {}  # fmt: skip
    out += ["", f"Lightning's cost over the plain loop on the same batches ({v0}; per round, "
            "median [min, max]):", ""]  # fmt: skip
    out.append(table(
        ["loop", f"recipe steps ({cfg['image_size']} px, batch {cfg['batch_size']})",
         f"tiny steps ({cfg['tiny_image_size']} px, batch {cfg['tiny_batch_size']})"],
        [[label(k), fmt({x: 100 * y for x, y in cost[k].items()}, "+.1f", "%"),
          f"{fmt(fixed[k], '+.2f', ' ms')} ({fmt(tiny_cost[k], '+.0%')})" if tiny
          else "not measured"] for k in layers],
    ))  # fmt: skip
    # Each round's shipped run against the same round's reference: a load change between
    # rounds cancels out of the ratio.
    rounds = {v: spread([ms_per_step(r) / ms_per_step(s) for r, s in
                         zip(train["ref"], train[f"shipped:{v}"], strict=True)])
              for v in cfg["variants"]}  # fmt: skip
    out += ["", "fashion-train as shipped vs the reference loop, per round (median [min, max]): "
            + ", ".join(f"{v} {fmt(r, '.2f', 'x')}" for v, r in rounds.items())]  # fmt: skip
    shipped = {v: spread([r["images_per_s"] for r in train[f"shipped:{v}"]])
               for v in cfg["variants"]}  # fmt: skip
    summary = {
        "pipeline_ratio": pipe_ratio,
        "training_ratio": {v: s["median"] / ref["median"] for v, s in shipped.items()},
        "training_ratio_per_round": rounds,
        "lightning_cost": {
            k.partition(":")[0]: {"recipe": cost[k], "tiny_ms": fixed.get(k)} for k in layers
        },  # fmt: skip
        "peak_mib_ratio": {
            v: statistics.median(r["peak_mib"] for r in train[f"shipped:{v}"])
            / statistics.median(r["peak_mib"] for r in train["ref"])
            for v in cfg["variants"]
        },
    }
    return "\n".join(out), summary

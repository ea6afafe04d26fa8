"""Benchmark: `fashion-train` as shipped, a bare Trainer, a plain loop and the reference
notebook's loop, side by side, on the same ResNet-18 (nets.py).

    python scripts/bench.py                          # CPU: 96 px, batch 16, 3 timed steps per run
    python scripts/bench.py --device cuda --full     # GPU: 96 px, batch 256, 50 timed steps
                                                     # (no tiny steps: --tiny-steps 0)
    python scripts/bench.py --dry-run                # every contender once, tiny, in seconds
    python scripts/bench.py --profile logs/profile --image-size 28 --batch-size 4 --steps 30
                                                     # where a shipped step's extra time goes

Contenders (scripts/bench_trials.py): the notebook's loop (scripts/reference_loop.py), a plain
loop over the project's batches and net, a bare `Trainer.fit` (no logger, checkpoints, progress
bar or callbacks), and `fashion-train` as shipped (the package's conf/train.yaml composed by
Hydra, run by the entry point: default callbacks, TensorBoard, atomic checkpoint IO), one row per
`--variants`.
Sections: 1. input pipeline, images/s; 2. training, images/s and peak memory (PSS of the
process and its DataLoader workers on CPU, max allocated on GPU); 3. Lightning's cost: bare and
shipped against the plain loop, on recipe-sized and on tiny steps (28 px, batch 4: little but
the per-step bookkeeping). Each run is a fresh process after `--warmup` untimed steps;
contenders run interleaved, `--repeats` rounds; every run's raw figures (each step's ms) go to
the JSON, written again after every run (a run cut short keeps what it measured), the tables
show medians with their range. Both sides get the same cores: `--cores` DataLoader workers for
the reference, `--cores` torch threads for everyone; and the same backend settings, data
placement and optimizer defaults (scripts/bench_trials.py).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from bench_report import report
from bench_trials import parse_variant, trial
from reference_loop import reference_root

# GPU: the reference recipe at full size. CPU (~13 img/s at 96 px on 2 cores): small batches
# and few steps, so that the default run stays within minutes. Dry run: the machinery only.
SIZES = {
    "gpu": {"batch_size": 256, "steps": 50, "warmup": 10, "tiny_steps": 0,
            "pipeline_batches": 60, "variants": "default,default+graphs,fp32"},
    "cpu": {"batch_size": 16, "steps": 3, "warmup": 1, "tiny_steps": 30,
            "pipeline_batches": 20, "variants": "default,fp32"},
    "dry": {"batch_size": 4, "steps": 2, "warmup": 1, "tiny_steps": 2, "pipeline_batches": 2,
            "variants": "default", "image_size": 28, "pipeline_batch_size": 8, "repeats": 1},
}  # fmt: skip
TINY = {"image_size": 28, "batch_size": 4}
TRIAL_ARGS = ("device", "cores", "batch_size", "image_size", "steps", "warmup",
              "pipeline_batches", "data_dir", "ref_root", "no_verify", "profile_dir")  # fmt: skip


def run_trial(args: argparse.Namespace, name: str, **sizes) -> dict:
    """One contender in a fresh process (in this one for --dry-run); `sizes` override
    batch_size, image_size, steps."""
    opts = {**{k: getattr(args, k) for k in TRIAL_ARGS}, **sizes, "trial": name}
    if args.dry_run:
        return trial(argparse.Namespace(**opts))
    cmd = [sys.executable, __file__]
    for key, value in opts.items():
        flag = f"--{key.replace('_', '-')}"
        if isinstance(value, bool):
            cmd += [flag] if value else []
        elif value is not None:
            cmd += [flag, str(value)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"trial {name} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def interleaved(
    args: argparse.Namespace,
    names: list[str],
    save: Callable[[], None] = lambda: None,
    **sizes,
) -> dict[str, list[dict]]:
    """Every contender `repeats` times, rotating the order each round; every run kept, and
    `save` called after each (the runs so far are in the returned dict as they come)."""
    runs: dict[str, list[dict]] = {n: [] for n in names}
    for r in range(args.repeats):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            result = run_trial(args, name, **sizes)
            runs[name].append({**result, "round": r, "load_1min": os.getloadavg()[0]})
            print(f"  round {r + 1}/{args.repeats} {name}: {result['images_per_s']:.1f} img/s, "
                  f"{result['peak_mib']:.0f} MiB", file=sys.stderr, flush=True)  # fmt: skip
            save()
    return runs


def commit() -> str:
    """The checkout's commit, read when the run starts (the checkout may change while it runs)."""
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return out.stdout.strip() or "unknown"


def environment(args: argparse.Namespace, loads: list[float], code: str) -> str:
    import torch

    if args.device == "cuda":
        hw = torch.cuda.get_device_name()
    else:
        hw = f"{os.cpu_count()}-core CPU ({args.cores} used)"
    # Other work on the machine skews CPU figures (torch threads on busy cores wait on each
    # other): the 1-minute load average at the start and end says how busy it was.
    day = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f"{day}, {hw}, load {loads[0]:.1f} at start, {loads[-1]:.1f} at end, "
            f"torch {torch.__version__}, commit {code}")  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--full", action="store_true",
                   help="the reference recipe's sizes: batch 256, 50 timed steps (--device "
                   "cuda implies it)")  # fmt: skip
    p.add_argument("--dry-run", action="store_true",
                   help="each contender once, 28 px, batch 4, 2 steps, in this process: checks "
                   "that everything runs (its figures mean nothing)")  # fmt: skip
    p.add_argument("--profile", metavar="DIR", default=None,
                   help="run bare and shipped once under Lightning's SimpleProfiler at the "
                   "sizes given and write their reports into DIR")  # fmt: skip
    p.add_argument(
        "--cores",
        type=int,
        default=min(4, os.cpu_count() or 1),
        help="DataLoader workers of the reference = torch threads of everyone",
    )
    p.add_argument("--image-size", type=int, default=None, help="training side in px (96)")
    p.add_argument("--batch-size", type=int, default=None, help="training batch (16 on CPU)")
    p.add_argument("--pipeline-batch-size", type=int, default=None, help="(256)")
    p.add_argument("--steps", type=int, default=None, help="timed training steps per run")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps per run (>= 1)")
    p.add_argument("--pipeline-batches", type=int, default=None, help="timed batches per run")
    p.add_argument("--tiny-steps", type=int, default=None, help="timed tiny steps per run")
    p.add_argument("--repeats", type=int, default=None, help="rounds (3)")
    p.add_argument(
        "--variants",
        default=None,
        help="shipped rows, comma-separated, each '+'-joined parts of "
        "fp32|bf16|cl|compile; the first is also the plain and bare rows' variant",
    )
    p.add_argument("--data-dir", default="data", help="as data.data_dir (system copy too)")
    p.add_argument("--no-verify", action="store_true", help="skip MD5 checks (generated data)")
    p.add_argument("--out", default=None, help="JSON results (default logs/bench/<device>.json)")
    p.add_argument("--trial", default=None, help=argparse.SUPPRESS)
    p.add_argument("--ref-root", default=None, help=argparse.SUPPRESS)
    p.add_argument("--profile-dir", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    kind = "dry" if args.dry_run else "gpu" if args.full or args.device == "cuda" else "cpu"
    defaults = {"image_size": 96, "pipeline_batch_size": 256, "repeats": 3, **SIZES[kind]}
    for key, value in defaults.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if args.warmup < 1:
        p.error(f"--warmup must be >= 1 (the clock starts at the end of a step), got {args.warmup}")
    try:
        for v in args.variants.split(","):
            parse_variant(v)  # fail before any run
    except ValueError as e:
        p.error(str(e))
    return args


def profile(args: argparse.Namespace) -> int:
    """Bare and shipped once each under SimpleProfiler, at the sizes given: the hooks a
    shipped step adds, and their time."""
    out = Path(args.profile).resolve()
    out.mkdir(parents=True, exist_ok=True)
    args.profile_dir, v0 = str(out), args.variants.split(",")[0]
    for name in (f"bare:{v0}", f"shipped:{v0}"):
        result = run_trial(args, name)
        ms = 1000 * result["batch_size"] / result["images_per_s"]
        print(f"{name}: {ms:.1f} ms/step over {len(result['step_ms'])} timed steps")
    print(f"SimpleProfiler reports: {', '.join(str(p) for p in sorted(out.glob('*.txt')))}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.trial:
        print(json.dumps(trial(args)))
        return 0
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise SystemExit("--device cuda: no CUDA device visible to torch on this machine")
    start, loads, code = time.time(), [os.getloadavg()[0]], commit()
    variants = args.variants.split(",")
    out = Path(args.out or f"logs/bench/{args.device}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    runs: dict[str, dict] = {}
    result = {"environment": None, "args": {k: v for k, v in vars(args).items()
                                            if k not in ("trial", "ref_root")},
              "runs": runs, "partial": True}  # fmt: skip

    def save() -> None:  # after every run: a bench cut short keeps what it measured
        result["elapsed_s"] = round(time.time() - start, 1)
        out.write_text(json.dumps(result, indent=2, default=str))

    with tempfile.TemporaryDirectory() as tmp:
        args.ref_root = reference_root(Path(tmp), args.data_dir, verify=not args.no_verify)
        if args.profile:
            return profile(args)
        print("input pipeline ...", file=sys.stderr)
        runs["pipeline"] = {}
        runs["pipeline"] = interleaved(args, ["pipe_ref", "pipe_ours"], save,
                                       batch_size=args.pipeline_batch_size)  # fmt: skip
        print("training ...", file=sys.stderr)
        names = ["ref", f"plain:{variants[0]}", f"bare:{variants[0]}"]
        runs["training"] = interleaved(args, names + [f"shipped:{v}" for v in variants], save)
        tiny_names = [*names[1:], f"shipped:{variants[0]}"]
        if args.dry_run:  # its training steps are tiny already
            runs["tiny"] = {n: runs["training"][n] for n in tiny_names}
        elif args.tiny_steps:
            print("Lightning's cost per step on tiny steps ...", file=sys.stderr)
            runs["tiny"] = interleaved(args, tiny_names, save, steps=args.tiny_steps, **TINY)
    loads.append(os.getloadavg()[0])
    sizes = {"device": args.device, "variants": variants, "image_size": args.image_size,
             "batch_size": args.batch_size, "pipeline_batch_size": args.pipeline_batch_size,
             **{f"tiny_{k}": v for k, v in TINY.items()}}  # fmt: skip
    text, summary = report(sizes, runs["pipeline"], runs["training"], runs.get("tiny"))
    env = environment(args, loads, code)
    print(f"{env}; {args.repeats} interleaved runs per contender, {args.steps} timed steps each "
          f"after {args.warmup} warm-up\n\n{text}")  # fmt: skip
    result.update(environment=env, load_1min={"start": loads[0], "end": loads[-1]},
                  summary=summary, table=text, partial=False)  # fmt: skip
    save()
    print(f"\nwrote {out} ({result['elapsed_s']} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

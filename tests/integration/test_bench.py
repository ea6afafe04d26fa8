"""The benchmark scripts run and compute what they say; nothing here is timed (bench.py is).
bench.py's dry run is checked in test_gpu_check.py, whose dry run runs it as its bench stage."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def script(filename: str):
    """Import scripts/<filename> as bench.py does (its folder on sys.path, as when it runs)."""
    sys.path.insert(0, str(SCRIPTS))
    try:
        spec = importlib.util.spec_from_file_location(Path(filename).stem, SCRIPTS / filename)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(SCRIPTS))
    return module


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True)


def test_shipped_contender_composes_what_fashion_train_runs(compose_cfg, tmp_path):
    """Every default callback, the logger and the checkpoint IO plugin stay in; only sizes,
    step limits, paths and the clock are added."""
    trials = script("bench_trials.py")
    args = trials.Namespace(device="cpu", warmup=1, steps=2, image_size=96, batch_size=16,
                            data_dir="data", no_verify=False, profile_dir=None)  # fmt: skip
    shipped = compose_cfg("train", trials.shipped_overrides(args, "cl", tmp_path))
    default = compose_cfg("train")
    assert set(shipped.callbacks) == {*default.callbacks, "bench_clock"}
    for name, node in default.callbacks.items():
        assert shipped.callbacks[name] == node, name
    assert shipped.logger == default.logger
    assert shipped.trainer.plugins == default.trainer.plugins
    assert shipped.trainer.limit_train_batches == 3 and shipped.model.channels_last is True
    assert (shipped.data.image_size, shipped.data.batch_size) == (96, 16)


def test_lightning_cost_is_taken_per_round():
    report = script("bench_report.py")

    def runs(*ms: float) -> list[dict]:  # batch 10: images/s from ms/step
        return [{"batch_size": 10, "images_per_s": 10_000 / m} for m in ms]

    # Round 2 is twice as slow for everyone (load): per round the cost is 10% both times.
    train = {"plain:fp32": runs(100, 200), "shipped:fp32": runs(110, 220)}
    cost = report.per_round(train, "shipped:fp32", "plain:fp32", relative=True)
    assert cost == pytest.approx({"median": 0.1, "min": 0.1, "max": 0.1})
    diff = report.per_round(train, "shipped:fp32", "plain:fp32", relative=False)
    assert diff == pytest.approx({"median": 15, "min": 10, "max": 20})
    assert report.fmt({"median": 0.1, "min": 0.05, "max": 0.2}, "+.0%") == "+10% [+5%, +20%]"


def test_report_gives_a_row_per_contender_and_ratios_of_medians():
    """bench_report.report on two rounds of made-up figures (the dry run has one round)."""
    report = script("bench_report.py")

    def runs(*ips: float, mib: float = 100) -> list[dict]:
        return [{"batch_size": 10, "images_per_s": i, "peak_mib": mib} for i in ips]

    cfg = {"image_size": 96, "batch_size": 10, "pipeline_batch_size": 64, "tiny_image_size": 28,
           "tiny_batch_size": 4, "device": "cpu", "variants": ["fp32"]}  # fmt: skip
    pipe = {"pipe_ref": runs(100, 300), "pipe_ours": runs(500, 700)}
    train = {"ref": runs(10, 30), "plain:fp32": runs(40, 60), "bare:fp32": runs(40, 60),
             "shipped:fp32": runs(35, 45, mib=50)}  # fmt: skip
    text, summary = report.report(cfg, pipe, train, tiny=train)
    assert summary["pipeline_ratio"] == pytest.approx(600 / 200)
    assert summary["training_ratio"] == {"fp32": pytest.approx(40 / 20)}
    assert summary["peak_mib_ratio"] == {"fp32": pytest.approx(0.5)}
    assert all(f"| {report.label(name)} |" in text for name in train)
    assert "| fashion-train as shipped (fp32) | 40.0 [35.0, 45.0] |" in text
    assert "median [min, max] of 2 runs" in text and "peak PSS MiB" in text
    # per round: 35/10 and 45/30 images/s, so the ratios 3.5x and 1.5x, median 2.5x
    assert summary["training_ratio_per_round"] == {
        "fp32": pytest.approx({"median": 2.5, "min": 1.5, "max": 3.5})}  # fmt: skip
    assert "per round (median [min, max]): fp32 2.50x [1.50, 3.50]" in text
    text, summary = report.report(cfg, pipe, train, tiny=None)  # the GPU check runs none
    assert "| bare Trainer.fit (fp32) |" in text and "not measured |" in text
    assert summary["lightning_cost"]["shipped"]["tiny_ms"] is None


def test_bench_rejects_unknown_variant_naming_the_valid_parts(capsys):
    with pytest.raises(SystemExit) as done:
        script("bench.py").parse_args(["--variants", "fp32,fp8"])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert "fp8" in err and "default|fp32|bf16|cl|compile|graphs" in err


@pytest.mark.parametrize(
    "variant,expected",
    [
        ("fp32", {"precision": "32-true", "channels_last": False, "compile": False,
                  "compile_mode": None}),
        ("bf16+cl+compile", {"precision": "bf16-mixed", "channels_last": True, "compile": True,
                             "compile_mode": None}),
        ("default", {"precision": None, "channels_last": None, "compile": False,
                     "compile_mode": None}),  # the device decides (devices.py)
        ("default+graphs", {"precision": None, "channels_last": None, "compile": True,
                            "compile_mode": "reduce-overhead"}),
    ],
)  # fmt: skip
def test_bench_variant_parsing(variant, expected):
    assert script("bench_trials.py").parse_variant(variant) == expected


def test_every_contender_gets_the_backend_settings_of_its_variants_shipped_run(monkeypatch):
    """TF32 and cuDNN autotuning as train.py sets them for the shipped run, for every row (on a
    GPU machine stand-in): a row that differs measures the flag, not its loop."""
    trials = script("bench_trials.py")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    tf32 = []
    monkeypatch.setattr(trials.devices, "apply_tf32", tf32.append)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    trials.same_backend_settings("cuda", "fp32")  # the reference loop's and fp32 rows'
    assert torch.backends.cudnn.benchmark is True and tf32 == [False]
    trials.same_backend_settings("cuda", "default")  # bf16-mixed on the GPU: TF32 on
    assert tf32 == [False, True]
    assert trials.resolved("cuda", "default")["precision"] == "bf16-mixed"
    assert trials.resolved("cuda", "default")["channels_last"] is True


def test_bench_help_states_the_defaults_it_uses(capsys):
    """--help once said batch 32 on CPU while the default was 16."""
    bench = script("bench.py")
    args = bench.parse_args([])
    assert (args.batch_size, args.steps, args.image_size) == (16, 3, 96)
    assert bench.parse_args(["--device", "cuda"]).batch_size == 256
    with pytest.raises(SystemExit):
        bench.parse_args(["--help"])
    help_text = capsys.readouterr().out
    assert f"({args.batch_size} on CPU)" in help_text and "(96)" in help_text


def test_reference_loop_alone_trains_and_tests(fake_data_dir, tmp_path):
    out = tmp_path / "ref.json"
    done = run(str(SCRIPTS / "reference_loop.py"), "--epochs", "1", "--max-steps", "2",
               "--image-size", "28", "--batch-size", "8", "--workers", "0", "--device", "cpu",
               "--data-dir", str(fake_data_dir), "--no-verify", "--out", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    (epoch,) = json.loads(out.read_text())["epochs"]
    assert 0 <= epoch["test_acc"] <= 1 and epoch["train_loss"] > 0
    assert "epoch 1: loss" in done.stdout


def test_the_flags_gpu_check_passes_still_parse():
    text = (SCRIPTS / "gpu_check.sh").read_text()
    line = text[text.index("$PY scripts/bench.py --device cuda") :].split("\nfi")[0]
    assert "--full --repeats 1" in line and '--out "$WORK/bench.json"' in line
    flags = ["--device", "cuda", "--full", "--repeats", "1", "--data-dir", "data"]
    args = script("bench.py").parse_args([*flags, "--out", "b.json"])
    assert (args.batch_size, args.steps, args.warmup, args.tiny_steps) == (256, 50, 10, 0)
    assert args.variants == "default,default+graphs,fp32" and args.repeats == 1

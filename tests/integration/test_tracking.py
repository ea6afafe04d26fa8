"""logger=mlflow / wandb / many against the real things: a tiny run logs to an MLflow tracking
server started here, read back over its REST API, and to an offline W&B run whose files are
read back; TensorBoard's views keep working beside them."""

import json
import os
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from conftest import needs_extra, tiny_overrides
from hydra.utils import instantiate

from fashion_resnet.train import train

SERVER_START_S = 120  # a loaded 2-core machine took ~11 s


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, **params) -> dict:
    query = urllib.parse.urlencode(params)
    with urllib.request.urlopen(f"{url}?{query}", timeout=10) as r:
        return json.loads(r.read())


@pytest.fixture
def mlflow_server(tmp_path):
    """`mlflow server` on 127.0.0.1, its store in tmp_path; the whole process group stopped."""
    port, store = free_port(), tmp_path / "mlflow-server"
    cmd = [
        sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1", "--backend-store-uri", f"file://{store}/runs",
        "--artifacts-destination", f"file://{store}/artifacts",
    ]  # fmt: skip
    env = {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true"}
    log = (tmp_path / "mlflow-server.log").open("w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    pytest.fail(f"mlflow server did not start:\n{Path(log.name).read_text()}")
                time.sleep(0.5)
        yield url
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)  # the group: mlflow starts uvicorn as a child
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        log.close()


def wandb_records(path: Path):
    """The records of an offline W&B run file (a LevelDB-style log of protobuf records: a
    7-byte file header, 32 KiB blocks, each record fragment behind a 7-byte header)."""
    from wandb.proto import wandb_internal_pb2

    data, block, pos, parts = path.read_bytes(), 32768, 7, b""
    assert data[:4] == b":W&B"
    while pos + 7 <= len(data):
        left = block - pos % block
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        if left < 7 or (length == 0 and kind == 0):  # block padding
            pos += left
            continue
        parts, pos = parts + data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind in (1, 4):  # a FULL record, or the LAST fragment of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(parts)
            parts = b""
            yield record


@needs_extra("mlflow", "mlflow")
@needs_extra("wandb", "wandb")
def test_many_loggers_against_a_real_mlflow_server(
    compose_cfg, fake_data_dir, tmp_path, mlflow_server, monkeypatch
):
    monkeypatch.setenv("WANDB_SILENT", "true")
    for name in ("WANDB_DIR", "WANDB_DATA_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR"):
        monkeypatch.setenv(name, str(tmp_path / "wandb-home"))  # staged artifact copies too
    over = tiny_overrides(fake_data_dir, tmp_path) + [
        "logger=many", f"logger.mlflow.tracking_uri={mlflow_server}", "tags=[smoke,ci]",
    ]  # fmt: skip
    metrics = train(compose_cfg("train", over))
    out = tmp_path / "out"

    api = f"{mlflow_server}/api/2.0/mlflow"
    exp = get(f"{api}/experiments/get-by-name", experiment_name="fashion_resnet")["experiment"]
    req = urllib.request.Request(
        f"{api}/runs/search", json.dumps({"experiment_ids": [exp["experiment_id"]]}).encode(),
        {"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(req, timeout=10) as r:
        (run,) = json.loads(r.read())["runs"]
    run_id = run["info"]["run_id"]
    params = {p["key"]: p["value"] for p in run["data"]["params"]}
    assert params["optimizer.lr"] == "0.001" and params["data.image_size"] == "28"
    assert params["model.net.arch"] == "resnet18"
    tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
    assert tags["tag.smoke"] == tags["tag.ci"] == "true" and tags["run_dir"] == str(out)
    for name in ["train/loss", "train/acc", "val/loss", "val/acc", "val/acc_best", "test/acc"]:
        history = get(f"{api}/metrics/get-history", run_id=run_id, metric_key=name)["metrics"]
        assert history[-1]["value"] == pytest.approx(metrics[name], rel=1e-5), name
    files = get(f"{api}/artifacts/list", run_id=run_id).get("files", [])
    names = {f["path"] for f in files}
    assert "metrics.json" in names and Path(metrics["best_ckpt"]).name in names

    (run_file,) = out.glob("wandb/offline-run-*/run-*.wandb")
    records = list(wandb_records(run_file))
    config = {u.key: json.loads(u.value_json) for r in records if r.HasField("config")
              for u in r.config.update}  # fmt: skip
    assert config["optimizer.lr"] == 0.001 and config["model.net.arch"] == "resnet18"
    history = [{i.nested_key[0] if i.nested_key else i.key: json.loads(i.value_json)
                for i in r.history.item} for r in records if r.HasField("history")]  # fmt: skip
    val_acc = [h["val/acc"] for h in history if "val/acc" in h]
    assert val_acc and val_acc[-1] == pytest.approx(metrics["val/acc"], rel=1e-5)
    run_tags = [list(r.run.tags) for r in records if r.HasField("run") and r.run.tags]
    assert run_tags and run_tags[-1] == ["smoke", "ci"]
    artifacts = [r.artifact for r in records if r.HasField("artifact")]
    assert artifacts and {e.path for e in artifacts[0].manifest.contents} >= {"metrics.json"}

    # TensorBoard is one logger of three: its images (InputGrid) are still written
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    images = set()
    for events in (out / "tensorboard").rglob("events.out.tfevents.*"):
        acc = EventAccumulator(str(events), size_guidance={"images": 0})
        acc.Reload()
        images |= set(acc.Tags()["images"])
    assert {"inputs/train_batch", "val/confusion_matrix"} <= images


@needs_extra("mlflow", "mlflow")
def test_mlflow_default_is_a_local_store_under_logs(compose_cfg, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = compose_cfg("train", [f"paths.log_dir={tmp_path}/logs", "logger=mlflow"])
    assert cfg.hydra.job.env_set.MLFLOW_ALLOW_FILE_STORE == "true"  # Hydra sets it per job
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    logger = instantiate(cfg.logger.mlflow)
    logger.log_hyperparams({"optimizer.lr": 0.1})
    logger.finalize()
    assert list((tmp_path / "logs" / "mlflow").glob("*/*/params/optimizer.lr"))

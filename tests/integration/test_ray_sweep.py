"""`hydra/launcher=ray` against a real Ray head that the test starts on 127.0.0.1 (own ports and
temp folder, one CPU, no GPU) and stops afterwards, also when the test fails."""

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import needs_extra, tiny_overrides

# Without Ray's cluster mode (an option meant for Windows and macOS) every Ray process binds
# and advertises 127.0.0.1 only; the driver needs it too, to find the head's raylet. No token
# authentication for this private head: a ~/.ray/auth_token left by another Ray would
# otherwise switch it on for the head but not for the driver.
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0",
       "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled"}  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def ray_head():
    """`ray start --head --block` in its own session: stopping it is killing that process group
    (only what this test started, never `ray stop`, which stops every Ray on the machine)."""
    temp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))  # Ray's socket paths must be short
    names = ["port", "node-manager-port", "object-manager-port", "ray-client-server-port",
             "dashboard-agent-listen-port", "dashboard-agent-grpc-port", "metrics-export-port",
             "runtime-env-agent-port", "dashboard-port"]  # fmt: skip
    ports = {name: free_port() for name in names}
    worker_port = min(free_port(), 65000)  # workers: the next 30 ports, none of the above
    while any(worker_port <= p <= worker_port + 30 for p in ports.values()):
        worker_port = min(free_port(), 65000)
    port = ports["port"]
    options = {
        **ports, "min-worker-port": worker_port, "max-worker-port": worker_port + 30,
        "node-ip-address": "127.0.0.1", "num-cpus": 1, "num-gpus": 0, "temp-dir": temp,
        "object-store-memory": 100 * 2**20,
    }  # fmt: skip
    cmd = [sys.executable, "-m", "ray.scripts.scripts", "start", "--head", "--block",
           "--include-dashboard=false", "--disable-usage-stats",
           *(f"--{k}={v}" for k, v in options.items())]  # fmt: skip
    log = temp / "head.log"
    with open(log, "w") as out:
        head = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=ENV,
                                start_new_session=True)  # fmt: skip
    try:
        deadline = time.time() + 120
        while "Ray runtime started" not in log.read_text():
            assert head.poll() is None and time.time() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        yield f"127.0.0.1:{port}"
    finally:
        head.send_signal(signal.SIGINT)  # Ctrl-C: `ray start --block` stops what it started
        with contextlib.suppress(subprocess.TimeoutExpired):
            head.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):  # whatever of this cluster is left
            os.killpg(head.pid, signal.SIGKILL)
        head.wait(timeout=10)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.mark.slow
@needs_extra("ray", "ray")
def test_a_sweep_runs_as_ray_tasks_on_a_running_cluster(ray_head, fake_data_dir, tmp_path):
    sweep = tmp_path / "sweep"
    cmd = [
        sys.executable, "-m", "fashion_resnet.train", "-m",
        *tiny_overrides(fake_data_dir, tmp_path), "trainer.limit_train_batches=1",
        "test=false", "hydra/launcher=ray",
        # no best-checkpoint files (45 MB each): this test is about where the jobs run, not what
        # they save; the time-based last.ckpt ships on (it writes nothing mid-epoch here)
        "~callbacks.model_checkpoint",
        f"hydra.launcher.address={ray_head}", f"hydra.sweep.dir={sweep}", "seed=1,2",
    ]  # fmt: skip
    driver = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=ENV)  # fmt: skip
    _, err = driver.communicate(timeout=600)
    assert driver.returncode == 0, err[-4000:]
    for num, seed in [("0", "seed=1"), ("1", "seed=2")]:
        metrics = json.loads((sweep / num / "metrics.json").read_text())
        assert seed in metrics["overrides"] and 0 <= metrics["val/acc_best"] <= 1
        run = json.loads((sweep / num / "run.json").read_text())
        assert run["pid"] != driver.pid  # ran in a Ray worker, not in the driver
    assert (sweep / "multirun.yaml").is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["sweep"]  # one sweep folder, nothing else

"""hydra_plugins/fashion_resnet_ray: Hydra finds the launcher; each job asks Ray for one GPU
where the cluster has them. A real Ray head: integration/test_ray_sweep.py."""

from hydra.core.plugins import Plugins
from hydra.plugins.launcher import Launcher
from hydra.utils import instantiate

from hydra_plugins.fashion_resnet_ray.ray_launcher import job_resources


def test_hydra_finds_the_launcher_that_the_config_names(compose_cfg):
    cfg = compose_cfg("train", ["hydra/launcher=ray"])
    found = {f"{c.__module__}.{c.__name__}" for c in Plugins.instance().discover(Launcher)}
    assert cfg.hydra.launcher._target_ in found
    launcher = instantiate(cfg.hydra.launcher)
    assert launcher.address is None and launcher.remote == {"num_cpus": 1, "num_gpus": None}


def test_each_job_asks_for_one_gpu_on_a_cluster_with_gpus():
    assert job_resources({"num_cpus": 1, "num_gpus": None}, cluster_gpus=4) == {
        "num_cpus": 1, "num_gpus": 1,
    }  # fmt: skip
    assert job_resources({"num_cpus": 1, "num_gpus": None}, cluster_gpus=0)["num_gpus"] == 0
    assert job_resources({"num_gpus": 2}, cluster_gpus=0) == {"num_gpus": 2}

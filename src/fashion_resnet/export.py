"""Export a checkpoint through torch.export: a `.pt2` program and an ONNX model (torch's
torch.export-based exporter). uint8 images as the data set stores them in (FashionMNIST:
(B, 28, 28); an image folder: (B, C, S, S)), class probabilities (B, classes) out, with resize
and normalisation inside the graph; model.json names the classes.

    fashion-export ckpt_path=logs/train/runs/<stamp>      # a run folder or a .ckpt file

Verification is part of export: both files are run (torch.export.load, onnxruntime) on the data's
test images and compared with the model as it was trained (the Classifier on the DataModule's own
transform); nothing is written unless they agree. No TorchScript: torch 2.14 deprecates
torch.jit, `.pt2` loads with torch alone, and `.onnx` runs wherever onnxruntime does.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import hydra
import torch
from omegaconf import DictConfig
from torch import nn

from fashion_resnet import CONF_DIR, extras
from fashion_resnet.cli import console, exits
from fashion_resnet.config import hydra_job, validate
from fashion_resnet.data import resize as R
from fashion_resnet.data import transforms as T
from fashion_resnet.runs import checkpoints, folders
from fashion_resnet.runs.atomic import write_json

TOLERANCE = 1e-4  # max |probability difference| allowed between training path and an export
MAX_BATCH = 65_536  # the exported batch dimension is dynamic up to this many images
# The export extra: the ONNX model (onnx), torch's torch.export-based exporter (onnxscript),
# the run that verifies it (onnxruntime).
EXPORT_MODULES = ("onnx", "onnxscript", "onnxruntime")


class ExportError(RuntimeError):
    pass


class Exportable(nn.Module):
    """The whole inference path in one module: uint8 images -> probabilities. `data`: the
    data's facts as the checkpoint stores them (stored image shape, input side, mean/std)."""

    def __init__(self, net: nn.Module, data: dict) -> None:
        super().__init__()
        self.net, self.image_size = net, data["image_size"]
        self.mean, self.std = data["mean"], data["std"]
        side = data["image_shape"][-1]
        self.resize = ExactResize(self.image_size, side) if self.image_size != side else None
        self.eval()  # BatchNorm with running statistics

    def forward(self, images: torch.Tensor) -> torch.Tensor:  # uint8 (B, ...) -> (B, classes)
        if self.resize is not None:
            images = self.resize(images)
        x = T.to_model_input(images, self.image_size, self.mean, self.std)
        return self.net(x).softmax(dim=1)


class ExactResize(nn.Module):
    """uint8 (B, N, N) -> uint8 (B, S, S): the training resize's arithmetic
    (resize.resize_pass, integer ops: exact in ONNX too, whose own Resize rounds differently),
    with its weights as buffers of the graph."""

    def __init__(self, size: int, source: int = 28) -> None:
        super().__init__()
        idx, weights, self.bits = R.resize_taps(source, size)  # square: the same for both axes
        self.register_buffer("idx", idx)
        self.register_buffer("weights", weights)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        taps = (self.idx, self.weights, self.bits)
        x = R.resize_pass(images.transpose(-1, -2), *taps).transpose(-1, -2)  # horizontal
        return R.resize_pass(x, *taps)  # then vertical


def to_pt2(module: nn.Module, example: torch.Tensor, path: Path) -> None:
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    program = torch.export.export(module, (example,), dynamic_shapes={"images": {0: batch}})
    torch.export.save(program, str(path))


def in_batches(fn, images: torch.Tensor, size: int = 256) -> torch.Tensor:
    """fn over `size` images at a time: memory stays that of one batch, whatever n_verify is."""
    with torch.no_grad():
        return torch.cat([fn(images[i : i + size]) for i in range(0, len(images), size)])


def run_pt2(path: Path, images: torch.Tensor) -> torch.Tensor:
    return in_batches(torch.export.load(str(path)).module(), images)


def to_onnx(module: nn.Module, example: torch.Tensor, path: Path) -> None:
    # torch.export-based exporter (dynamo=True): needs the onnxscript package.
    batch = torch.export.Dim("batch", min=1, max=MAX_BATCH)
    program = torch.onnx.export(
        module, (example,), dynamo=True, input_names=["images"], output_names=["probabilities"],
        dynamic_shapes={"images": {0: batch}}, verbose=False,
    )  # fmt: skip
    program.save(str(path))


def run_onnx(path: Path, images: torch.Tensor) -> torch.Tensor:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return in_batches(
        lambda x: torch.from_numpy(session.run(None, {"images": x.numpy()})[0]), images
    )


def verify(reference: torch.Tensor, exported: torch.Tensor, name: str) -> float:
    """Probabilities within TOLERANCE and the same predicted classes, else ExportError. (Where
    the two best classes are within 2 x TOLERANCE, a difference within it may swap them.)"""
    diff = (reference - exported).abs().max().item()
    best_two = reference.topk(2, dim=1).values
    clear = best_two[:, 0] - best_two[:, 1] > 2 * TOLERANCE
    same = torch.equal(reference.argmax(1)[clear], exported.argmax(1)[clear])
    if not same or diff > TOLERANCE:
        raise ExportError(
            f"{name} export disagrees with the trained model (max |dp| = {diff:.2e}, tolerance "
            f"{TOLERANCE:.0e}, same classes: {same}); nothing was written"
        )
    return diff


def export(ckpt_path: str | Path, out_dir: Path, data_overrides: dict, n_verify: int = 256):
    ckpt_file = folders.checkpoint_in(ckpt_path)
    model, data_hparams = checkpoints.load_model(ckpt_file)
    data = model.hparams.data  # the data's facts, as the checkpoint stores them
    datamodule = checkpoints.datamodule_for(data, data_hparams, data_overrides)
    module = Exportable(model.net, data)
    images = datamodule.test_images(n_verify)  # fewer when the test set is smaller
    # What the model saw in training (the CPU path), in evaluation mode.
    reference = in_batches(lambda x: model(datamodule.transform(x)).softmax(dim=1), images)
    with tempfile.TemporaryDirectory(dir=out_dir.parent if out_dir.parent.exists() else None) as t:
        tmp = Path(t)
        to_pt2(module, images[:2], tmp / "model.pt2")
        to_onnx(module, images[:2], tmp / "model.onnx")
        diffs = {
            "pt2": verify(reference, run_pt2(tmp / "model.pt2", images), ".pt2"),
            "onnx": verify(reference, run_onnx(tmp / "model.onnx", images), "ONNX"),
        }
        meta = {
            "checkpoint": str(ckpt_file),
            "classes": list(data["classes"]),
            "input": {"name": "images", "dtype": "uint8",
                      "shape": ["batch", *data["image_shape"]], "note": data["pictures"]},
            "output": {"name": "probabilities", "dtype": "float32",
                       "shape": ["batch", len(data["classes"])]},
            "preprocessing_in_graph": {"image_size": data["image_size"],
                                       "normalize": data["mean"] is not None},
            # <run>/checkpoints/<file>.ckpt: the run's metrics.json, when it has one
            "checkpoint_metrics": folders.metric_values(
                folders.run_metrics(ckpt_file.parent.parent)
            ),
            "verification": {"images": len(images), "tolerance": TOLERANCE,
                             "reference": "Classifier on the DataModule transform (CPU)",
                             "max_abs_diff": diffs},
        }  # fmt: skip
        write_json(tmp / "model.json", meta)
        out_dir.mkdir(parents=True, exist_ok=True)
        for f in tmp.iterdir():
            shutil.move(str(f), out_dir / f.name)
    return meta


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="export")
def run(cfg: DictConfig) -> None:
    with exits.job():
        validate.check_export(cfg)
        for module in EXPORT_MODULES:
            extras.require(module, "export", "fashion-export")
        folders.check_creatable(Path(cfg.output_dir), "output_dir=<folder>")
        data = dict(cfg.get("data") or {})
        meta = export(cfg.ckpt_path, Path(cfg.output_dir), data, cfg.n_verify)
    check = meta["verification"]
    print(f"Exported to {cfg.output_dir}: model.pt2, model.onnx, model.json "
          f"(verified against the trained model on {check['images']} test images, "
          f"max |dp| {max(check['max_abs_diff'].values()):.1e})")  # fmt: skip


def main() -> None:
    hydra_job.register_resolvers()  # the configs name their folders with ${run_stamp:}
    hydra_job.load_env()  # .env paths, before the configs read them
    console.quiet()
    exits.run(run, "fashion-export")


if __name__ == "__main__":
    main()

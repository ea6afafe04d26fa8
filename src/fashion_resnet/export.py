"""Export a checkpoint to ONNX and TorchScript: uint8 (B, 28, 28) images in, class
probabilities (B, 10) out, with resize and normalisation inside the graph.

    fashion-export ckpt_path=logs/train/runs/<stamp>      # a run folder or a .ckpt file

Verification is part of export: both files are run (onnxruntime, torch.jit) on real test images
and compared with the PyTorch model; nothing is written unless they agree.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig
from torch import nn

from fashion_resnet import CONF_DIR, checkpoints, hydra_glue, rundirs
from fashion_resnet import transforms as T
from fashion_resnet.data import CLASSES, FashionMNISTDataModule, parse_idx, read_idx_bytes
from fashion_resnet.files import write_json

TOLERANCE = 1e-4  # max |probability difference| allowed between PyTorch and an export


class ExportError(RuntimeError):
    pass


class Exportable(nn.Module):
    """The whole inference path in one module: uint8 images -> probabilities."""

    def __init__(self, net: nn.Module, image_size: int, normalize: bool) -> None:
        super().__init__()
        self.net, self.image_size, self.normalize = net, image_size, normalize
        self.eval()  # BatchNorm with running statistics; exporters restore this mode after

    def forward(self, images: torch.Tensor) -> torch.Tensor:  # (B, 28, 28) uint8 -> (B, 10)
        # Upsampling (the usual case) needs no antialiasing, and ONNX has no antialiased resize.
        x = T.to_model_input(
            images, self.image_size, self.normalize, antialias=self.image_size < 28
        )
        return self.net(x).softmax(dim=1)


def verification_images(data_args: dict[str, Any], n: int) -> torch.Tensor:
    """The first n official test images (uint8), found and verified by the DataModule."""
    files = FashionMNISTDataModule(**data_args).raw_files()
    return parse_idx(read_idx_bytes(files["t10k-images-idx3-ubyte"]))[:n].contiguous()


def to_onnx(module: nn.Module, example: torch.Tensor, path: Path) -> None:
    # The TorchScript-based exporter: it needs the onnx package (the dynamo one also onnxscript).
    torch.onnx.export(
        module, (example,), str(path), dynamo=False, opset_version=17,
        input_names=["images"], output_names=["probabilities"],
        dynamic_axes={"images": {0: "batch"}, "probabilities": {0: "batch"}},
    )  # fmt: skip


def run_onnx(path: Path, images: torch.Tensor) -> torch.Tensor:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return torch.from_numpy(session.run(None, {"images": images.numpy()})[0])


def verify(reference: torch.Tensor, exported: torch.Tensor, name: str) -> float:
    """Same predicted classes and probabilities within TOLERANCE, else ExportError."""
    diff = (reference - exported).abs().max().item()
    same = torch.equal(reference.argmax(1), exported.argmax(1))
    if not same or diff > TOLERANCE:
        raise ExportError(
            f"{name} export disagrees with PyTorch (max |dp| = {diff:.2e}, tolerance "
            f"{TOLERANCE:.0e}, same classes: {same}); nothing was written"
        )
    return diff


def export(ckpt_path: str | Path, out_dir: Path, data_overrides: dict, n_verify: int = 256):
    ckpt_file = rundirs.checkpoint_in(ckpt_path)
    model, data_args = checkpoints.load_model(ckpt_file)
    data_args = {**data_args, **data_overrides}
    size, normalize = data_args.get("image_size", 96), data_args.get("normalize", False)
    module = Exportable(model.net, size, normalize)
    images = verification_images(data_args, n_verify)
    with torch.no_grad():
        # The reference: the same module run eagerly by PyTorch. (Its float resize may differ by
        # one grey level from the CPU training path's uint8 resize; that is not the exporter's.)
        reference = module(images)
    with tempfile.TemporaryDirectory(dir=out_dir.parent if out_dir.parent.exists() else None) as t:
        tmp = Path(t)
        to_onnx(module, images[:2], tmp / "model.onnx")
        torch.jit.trace(module, images[:2]).save(str(tmp / "model.torchscript.pt"))
        diffs = {
            "onnx": verify(reference, run_onnx(tmp / "model.onnx", images), "ONNX"),
            "torchscript": verify(
                reference, torch.jit.load(str(tmp / "model.torchscript.pt"))(images), "TorchScript"
            ),
        }
        meta = {
            "checkpoint": str(ckpt_file),
            "classes": list(CLASSES),
            "input": {"name": "images", "dtype": "uint8", "shape": ["batch", 28, 28],
                      "note": "light item on a dark background, 0..255, as FashionMNIST"},
            "output": {"name": "probabilities", "dtype": "float32", "shape": ["batch", 10]},
            "preprocessing_in_graph": {"image_size": size, "normalize": normalize},
            # <run>/checkpoints/<file>.ckpt: the run's metrics.json, when it has one
            "checkpoint_metrics": rundirs.metric_values(
                rundirs.run_metrics(ckpt_file.parent.parent)
            ),
            "verification": {"images": len(images), "tolerance": TOLERANCE, "max_abs_diff": diffs},
        }  # fmt: skip
        write_json(tmp / "model.json", meta)
        out_dir.mkdir(parents=True, exist_ok=True)
        for f in tmp.iterdir():
            shutil.move(str(f), out_dir / f.name)
    return meta


@hydra.main(version_base="1.3", config_path=CONF_DIR, config_name="export")
def run(cfg: DictConfig) -> None:
    meta = export(cfg.ckpt_path, Path(cfg.output_dir), dict(cfg.get("data") or {}), cfg.n_verify)
    print(f"Exported to {cfg.output_dir}: model.onnx, model.torchscript.pt, model.json "
          f"(verified on {meta['verification']['images']} test images, "
          f"max |dp| {max(meta['verification']['max_abs_diff'].values()):.1e})")  # fmt: skip


def main() -> None:
    hydra_glue.register_resolvers()  # the configs name their folders with ${run_stamp:}
    hydra_glue.load_env()  # .env paths, before the configs read them
    run()


if __name__ == "__main__":
    main()

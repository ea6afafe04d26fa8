"""Export a checkpoint through torch.export: a `.pt2` program and an ONNX model (torch's
torch.export-based exporter). uint8 (B, 28, 28) images in, class probabilities (B, 10) out, with
resize and normalisation inside the graph.

    fashion-export ckpt_path=logs/train/runs/<stamp>      # a run folder or a .ckpt file

Verification is part of export: both files are run (torch.export.load, onnxruntime) on real test
images and compared with the model as it was trained (the Classifier on the DataModule's own
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
from torch.nn import functional as F

from fashion_resnet import (
    CONF_DIR,
    checkpoints,
    cli,
    console,
    extras,
    hydra_glue,
    rundirs,
    validate,
)
from fashion_resnet import transforms as T
from fashion_resnet.data import CLASSES, FashionMNISTDataModule
from fashion_resnet.files import write_json
from fashion_resnet.raw_files import parse_idx, read_idx_bytes

TOLERANCE = 1e-4  # max |probability difference| allowed between training path and an export
MAX_BATCH = 65_536  # the exported batch dimension is dynamic up to this many images
# The export extra: the ONNX model (onnx), torch's torch.export-based exporter (onnxscript),
# the run that verifies it (onnxruntime).
EXPORT_MODULES = ("onnx", "onnxscript", "onnxruntime")


class ExportError(RuntimeError):
    pass


class Exportable(nn.Module):
    """The whole inference path in one module: uint8 images -> probabilities."""

    def __init__(self, net: nn.Module, image_size: int, normalize: bool) -> None:
        super().__init__()
        self.net, self.image_size, self.normalize = net, image_size, normalize
        # Upsizing (the usual case): the training path's own uint8 resize, tabulated (exact in
        # ONNX too, whose Resize rounds differently); smaller sizes: torch's resize op.
        self.resize = TabulatedResize(image_size) if image_size > 28 else None
        self.eval()  # BatchNorm with running statistics

    def forward(self, images: torch.Tensor) -> torch.Tensor:  # (B, 28, 28) uint8 -> (B, 10)
        if self.resize is not None:
            images = self.resize(images)
        return self.net(T.to_model_input(images, self.image_size, self.normalize)).softmax(dim=1)


class TabulatedResize(nn.Module):
    """uint8 (B, 28, 28) -> uint8 (B, S, S), bit for bit torch's antialiased bilinear uint8
    resize on the CPU (the training transform's CPU path, PIL's algorithm): a horizontal then a
    vertical pass, each output pixel a rounded fixed-point mix of two neighbours. Each pass is
    tabulated from torch's own kernel: for every output position, its two input positions and
    the result for all 256 x 256 pairs of values (one table per distinct weight pair)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        for axis in ("h", "v"):
            taps, phase, table = _tabulate(size, axis)
            self.register_buffer(f"taps_{axis}", taps)  # (S, 2) input positions
            self.register_buffer(f"offset_{axis}", phase * 65536)  # (S,) its table, flattened
            self.register_buffer(f"table_{axis}", table.flatten())  # (P * 65536,) uint8

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.long()
        pair = x[:, :, self.taps_h[:, 0]] * 256 + x[:, :, self.taps_h[:, 1]]  # (B, 28, S)
        x = self.table_h[self.offset_h + pair].long()
        pair = x[:, self.taps_v[:, 0], :] * 256 + x[:, self.taps_v[:, 1], :]  # (B, S, S)
        return self.table_v[self.offset_v[:, None] + pair]


def _tabulate(size: int, axis: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    def resize(rows: torch.Tensor) -> torch.Tensor:  # (N, 28) -> (N, size) along `axis`
        # Two identical lines across: a dimension of size 1 takes another kernel path.
        if axis == "h":
            y = rows[:, None, None, :].expand(-1, 1, 2, 28).contiguous()
            return F.interpolate(y, size=(2, size), mode="bilinear", antialias=True)[:, 0, 0]
        y = rows[:, None, :, None].expand(-1, 1, 28, 2).contiguous()
        return F.interpolate(y, size=(size, 2), mode="bilinear", antialias=True)[:, 0, :, 0]

    weights = resize(torch.eye(28)).T  # (S, 28): which inputs each output mixes
    used = [torch.nonzero(w > 0).flatten().tolist() for w in weights]
    if any(len(u) > 2 for u in used):
        raise ExportError(f"cannot tabulate a resize to {size} px (more than two taps)")
    taps = torch.tensor([[u[0], u[-1]] for u in used])
    a = torch.arange(256).repeat_interleave(256)  # all (a, b) pairs, a major
    b = torch.arange(256).repeat(256)
    even = torch.arange(28) % 2 == 0
    rows = torch.where(even, a[:, None], b[:, None]).to(torch.uint8)  # even pixels a, odd b
    out = resize(rows)  # (65536, S)
    table = torch.empty(size, 65536, dtype=torch.uint8)
    for p, (j0, j1) in enumerate(taps.tolist()):
        first, second = (a, b) if j0 % 2 == 0 else (b, a)
        second = first if j1 == j0 else second
        table[p, first * 256 + second] = out[:, p]
    table, phase = torch.unique(table, dim=0, return_inverse=True)
    return taps, phase, table


def verification_images(datamodule: FashionMNISTDataModule, n: int) -> torch.Tensor:
    """The first n official test images (uint8), found and verified by the DataModule."""
    files = datamodule.raw_files()
    return parse_idx(read_idx_bytes(files["t10k-images-idx3-ubyte"]))[:n].contiguous()


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
    ckpt_file = rundirs.checkpoint_in(ckpt_path)
    model, data_args = checkpoints.load_model(ckpt_file)
    datamodule = FashionMNISTDataModule(**{**data_args, **data_overrides})
    size, normalize = datamodule.hparams.image_size, datamodule.hparams.normalize
    module = Exportable(model.net, size, normalize)
    images = verification_images(datamodule, n_verify)
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
            "classes": list(CLASSES),
            "input": {"name": "images", "dtype": "uint8", "shape": ["batch", 28, 28],
                      "note": "light item on a dark background, 0..255, as FashionMNIST"},
            "output": {"name": "probabilities", "dtype": "float32", "shape": ["batch", 10]},
            "preprocessing_in_graph": {"image_size": size, "normalize": normalize},
            # <run>/checkpoints/<file>.ckpt: the run's metrics.json, when it has one
            "checkpoint_metrics": rundirs.metric_values(
                rundirs.run_metrics(ckpt_file.parent.parent)
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
    with cli.job():
        validate.check_export(cfg)
        for module in EXPORT_MODULES:
            extras.require(module, "export", "fashion-export")
        data = dict(cfg.get("data") or {})
        meta = export(cfg.ckpt_path, Path(cfg.output_dir), data, cfg.n_verify)
    check = meta["verification"]
    print(f"Exported to {cfg.output_dir}: model.pt2, model.onnx, model.json "
          f"(verified against the trained model on {check['images']} test images, "
          f"max |dp| {max(check['max_abs_diff'].values()):.1e})")  # fmt: skip


def main() -> None:
    hydra_glue.register_resolvers()  # the configs name their folders with ${run_stamp:}
    hydra_glue.load_env()  # .env paths, before the configs read them
    console.quiet()
    cli.run(run, "fashion-export")


if __name__ == "__main__":
    main()

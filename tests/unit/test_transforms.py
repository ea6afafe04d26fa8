"""data/transforms.py: the batched, on-device input transform. The CPU resize is PIL's bit for
bit, augmentation draws per sample, MixUp/CutMix weight labels by what they keep."""

import pytest
import torch
import torch.nn.functional as F
from conftest import NO_REAL_DATA, PROJECT_DATA, REAL_DATA, make_images

from fashion_resnet.data import transforms as T
from fashion_resnet.data.idx_files import SYSTEM_DIR, find_raw_files, parse_idx, read_idx_bytes


def pil_resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """The reference notebook's pipeline, one PIL image at a time."""
    from PIL import Image
    from torchvision import transforms as tvt

    pipeline = tvt.Compose([tvt.Resize(size), tvt.ToTensor()])
    return torch.stack([pipeline(Image.fromarray(i.numpy())) for i in images])


@pytest.mark.parametrize("size", [32, 96])
def test_uint8_cpu_resize_is_bit_exact_with_pil(size):
    images = make_images(torch.arange(64) % 10, seed=5)
    out = T.to_model_input(images, size)
    assert out.dtype == torch.float32 and out.shape == (64, 1, size, size)
    assert torch.equal(out, pil_resize(images, size))


@pytest.mark.skipif(not REAL_DATA, reason=NO_REAL_DATA)
def test_uint8_cpu_resize_is_bit_exact_with_pil_on_real_images():
    files = find_raw_files(PROJECT_DATA, SYSTEM_DIR, download=False)
    images = parse_idx(read_idx_bytes(files["t10k-images-idx3-ubyte"]))[:1000]
    assert torch.equal(T.to_model_input(images, 96), pil_resize(images, 96))


def test_hflip_flips_about_half_of_the_batch():
    x = torch.arange(16.0).view(1, 1, 4, 4).repeat(1000, 1, 1, 1)
    torch.manual_seed(0)
    out = T.random_hflip(x, 0.5)
    flipped = (out[:, 0, 0, 0] == 3).float().mean().item()
    assert 0.4 < flipped < 0.6
    assert torch.equal(T.random_hflip(x, 1.0), x.flip(-1))


def test_random_crop_is_a_shift_of_at_most_padding_px():
    """Each output is its input shifted by (sy, sx), |sy|, |sx| <= padding, zero-filled; the
    shifts vary over the batch (an identity, a transpose or a larger shift fails)."""
    p, h, w = 2, 5, 7  # not square: a transpose cannot pass
    x = torch.arange(1.0, h * w + 1).view(1, 1, h, w).repeat(300, 1, 1, 1)
    torch.manual_seed(0)
    out = T.random_crop(x, p)
    assert out.shape == x.shape
    padded = F.pad(x[0], (p,) * 4)
    shifted = {
        (sy, sx): padded[:, p + sy : p + sy + h, p + sx : p + sx + w]
        for sy in range(-p, p + 1)
        for sx in range(-p, p + 1)
    }
    seen = set()
    for o in out:
        match = [s for s, ref in shifted.items() if torch.equal(o, ref)]
        assert match, f"not a shift of at most {p} px:\n{o}"
        seen.add(match[0])
    assert len(seen) == (2 * p + 1) ** 2  # 300 draws reach all 25 shifts


def test_random_erase_area_within_scale():
    x = torch.ones(500, 1, 40, 40)
    out = T.random_erase(x, p=1.0, scale=(0.1, 0.2))
    frac = (out == 0).float().mean(dim=(1, 2, 3))
    assert (frac > 0.05).all() and (frac < 0.3).all()


def two_tone_batch(b: int = 400) -> tuple[torch.Tensor, torch.Tensor]:
    """Image i is constant i+1 (so a pixel says whose it is); labels alternate 0, 1."""
    x = torch.arange(1.0, b + 1).view(b, 1, 1, 1).expand(b, 1, 8, 8).clone()
    return x, torch.arange(b) % 2


def test_mixup_blends_each_image_with_its_own_weight():
    x, y = two_tone_batch()
    torch.manual_seed(0)
    out, t = T.mix(x, y, num_classes=10, mixup=0.4)
    partner = x.roll(1, dims=0)
    lam = t[:, :2].max(dim=1).values  # y and its partner's label differ: lam or 1 - lam
    lam = torch.where(t[torch.arange(len(y)), y] == lam, lam, 1 - lam)
    assert torch.allclose(out, lam.view(-1, 1, 1, 1) * x + (1 - lam.view(-1, 1, 1, 1)) * partner)
    assert torch.allclose(t.sum(dim=1), torch.ones(len(y)))
    assert len(lam.unique()) > 300  # drawn per sample, not one weight for the batch
    assert 0.4 < (lam > 0.5).float().mean() < 0.6  # Beta(a, a) is symmetric


def test_cutmix_label_weight_is_the_area_kept():
    x, y = two_tone_batch()
    torch.manual_seed(0)
    out, t = T.mix(x, y, num_classes=10, cutmix=1.0)
    kept = (out == x).flatten(1).float().mean(dim=1)  # the rest is the partner's box
    assert torch.allclose(t[torch.arange(len(y)), y], kept)
    assert ((out == x) | (out == x.roll(1, dims=0))).all()  # pasted, not blended
    assert len(kept.unique()) > 20


def test_mixup_and_cutmix_together_pick_one_per_sample():
    x, y = two_tone_batch()
    torch.manual_seed(0)
    out, _ = T.mix(x, y, num_classes=10, mixup=1.0, cutmix=1.0)
    pasted = ((out == x) | (out == x.roll(1, dims=0))).flatten(1).all(dim=1)
    assert 0.35 < pasted.float().mean() < 0.65

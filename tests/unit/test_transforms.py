"""The switchable speed work: compiled nets keep their checkpoints and train, the CPU resize is
PIL's. Nothing here is timed (scripts/bench.py measures)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from conftest import NET, make_images

from fashion_resnet.data import transforms as T
from fashion_resnet.models.classifier import Classifier


def _pil_resize(images: torch.Tensor, size: int) -> torch.Tensor:
    from PIL import Image
    from torchvision import transforms as tvt

    pipeline = tvt.Compose([tvt.Resize(size), tvt.ToTensor()])
    return torch.stack([pipeline(Image.fromarray(i.numpy())) for i in images])


def test_compile_keeps_state_dict_keys():
    torch.manual_seed(0)
    eager = Classifier(NET)
    torch.manual_seed(0)
    compiled = Classifier(NET, compile=True)
    # nn.Module.compile() in place: no "_orig_mod." prefix, so checkpoints load either way.
    assert compiled.net._compiled_call_impl is not None
    assert eager.net._compiled_call_impl is None
    assert list(compiled.state_dict()) == list(eager.state_dict())
    eager.load_state_dict(compiled.state_dict())


def test_compiled_net_trains_like_the_eager_one(monkeypatch):
    """A forward and a backward through the compiled graph: same loss, same gradients.
    Dynamo captures the graphs and AOTAutograd builds the backward as with the default
    backend; aot_eager then runs them with eager kernels (inductor's C++ code generation
    takes minutes on 2 CPU cores: that part is torch's, not ours)."""
    compile_ = torch.nn.Module.compile

    def compile_aot_eager(self, **kw):
        return compile_(self, **{"backend": "aot_eager", **kw})

    monkeypatch.setattr(torch.nn.Module, "compile", compile_aot_eager)
    torch.manual_seed(0)
    eager = Classifier({"arch": "resnet18", "stem": "cifar"})
    compiled = Classifier({"arch": "resnet18", "stem": "cifar"}, compile=True)
    compiled.load_state_dict(eager.state_dict())
    x, y = torch.randn(4, 1, 16, 16), torch.tensor([0, 3, 5, 9])
    grads = []
    for model in (eager, compiled):
        loss = F.cross_entropy(model.train()(x), y)
        loss.backward()
        grads.append((loss.detach(), model.net.stem[0].weight.grad.clone()))
    assert compiled.net._compiled_call_impl is not None
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 1  # it did compile
    assert torch.allclose(grads[0][0], grads[1][0], atol=1e-5)
    assert torch.allclose(grads[0][1], grads[1][1], atol=1e-5, rtol=1e-4)


def test_uint8_cpu_resize_is_bit_exact_with_pil():
    images = make_images(torch.arange(64) % 10, seed=5)
    out = T.to_model_input(images, 96, normalize=False)
    assert out.dtype == torch.float32 and out.shape == (64, 1, 96, 96)
    assert torch.equal(out, _pil_resize(images, 96))

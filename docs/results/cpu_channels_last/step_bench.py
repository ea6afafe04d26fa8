"""Training steps of our ResNet-18 at one image size and batch, bf16 autocast and fp32, each
contiguous (NCHW) and channels-last (NHWC), interleaved in one process: the median of 3 rounds
of 2 steps after a warm-up round; torch's default threads; Adam fused, as shipped.
    python step_bench.py BATCH SIZE [VARIANT,...]"""

import statistics
import sys
import time

import torch
import torch.nn.functional as F

from fashion_resnet.models import resnet

B, S = int(sys.argv[1]), int(sys.argv[2])
VARIANTS = sys.argv[3].split(",") if len(sys.argv) > 3 else ["bf16", "bf16+cl", "fp32", "fp32+cl"]
torch.manual_seed(0)
x, y = torch.rand(B, 1, S, S), torch.randint(0, 10, (B,))
runs = {}
for v in VARIANTS:
    net, cl = resnet.resnet18(), v.endswith("+cl")
    if cl:
        net = net.to(memory_format=torch.channels_last)
    inp = x.contiguous(memory_format=torch.channels_last) if cl else x
    runs[v] = (net, torch.optim.Adam(net.parameters(), lr=1e-3, fused=True), "bf16" in v, inp, [])
for rnd in range(4):
    for net, opt, bf16, inp, ms in runs.values():
        t0 = time.perf_counter()
        for _ in range(2):
            with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
                loss = F.cross_entropy(net(inp), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if rnd:
            ms.append((time.perf_counter() - t0) / 2 * 1000)
for v, run in runs.items():
    m = statistics.median(run[4])
    print(f"batch {B} {S} px {v:8s} {m:8.1f} ms/step {B / m * 1000:7.1f} images/s")

"""Training steps of the smoke's network (our ResNet-18, 28 px, AdamW fused) in fp32 and bf16
autocast, contiguous and channels-last, interleaved in one process (median of 5 rounds of 3
steps after a warm-up round), torch's default threads:
    python step_bench.py BATCH"""

import statistics
import sys
import time

import torch
import torch.nn.functional as F

from fashion_resnet.models import resnet

B = int(sys.argv[1])
VARIANTS = ["fp32", "bf16", "fp32+channels_last", "bf16+channels_last"]
torch.manual_seed(0)
x, y = torch.rand(B, 1, 28, 28), torch.randint(0, 10, (B,))
runs = {}
for v in VARIANTS:
    net = resnet.resnet18()
    cl = v.endswith("channels_last")
    if cl:
        net = net.to(memory_format=torch.channels_last)
    runs[v] = (net, torch.optim.AdamW(net.parameters(), lr=1e-3, fused=True), v.startswith("bf16"),
               x.contiguous(memory_format=torch.channels_last) if cl else x, [])
for rnd in range(6):
    for v, (net, opt, bf16, inp, ms) in runs.items():
        t0 = time.perf_counter()
        for _ in range(3):
            with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
                loss = F.cross_entropy(net(inp), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if rnd:
            ms.append((time.perf_counter() - t0) / 3 * 1000)
base = statistics.median(runs["fp32"][4])
for v, run in runs.items():
    m = statistics.median(run[4])
    print(f"batch {B} {v:20s} {m:7.1f} ms/step {B / m * 1000:6.0f} images/s {base / m:.2f}x fp32")

"""A 512-channel 3x3 convolution (stage 4 of ResNet-18) on the small maps a 28 px input leaves,
fp32 against bf16 autocast, one thread: CPU time of forward and backward (3rd of 3 calls), and
which oneDNN kernel ran (ONEDNN_VERBOSE=1 python conv_1x1_maps.py 2>&1 | grep exec,cpu,conv)."""

import time

import torch

torch.set_num_threads(1)
for hw in (1, 2, 3):  # stage 4 at 28 px (imagenet stem): 1x1; at 96 px: 3x3
    conv = torch.nn.Conv2d(512, 512, 3, padding=1, bias=False)
    x = torch.rand(128, 512, hw, hw, requires_grad=True)
    for bf16 in (False, True):
        for _ in range(3):
            t = time.process_time()
            with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
                y = conv(x)
            t1 = time.process_time()
            y.float().sum().backward()
            t2 = time.process_time()
        print(f"{hw}x{hw} maps, {'bf16' if bf16 else 'fp32'}: forward {1000 * (t1 - t):.1f} ms, "
              f"backward {1000 * (t2 - t1):.1f} ms")

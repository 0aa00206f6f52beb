"""Conv2D forward + backward (input and weight gradients), float32, batch 64, 28x28, 5x5 kernel, "same".

scratch: ``scratch.Conv2D`` through its layer protocol (``forward`` then ``backward``). torch: the layer's own
``nn.Conv2d`` called directly on tensors (``module(x)`` then ``y.backward(g)`` with ``x.requires_grad``), i.e.
idiomatic PyTorch without the NumPy adapter. Work: 2*N*O*Ho*Wo*C*kh*kw for the forward, twice that for the
backward (input and weight gradients).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import dlfs
from benchmarks.common import layer_pair_time, row

TARGET = 1.0


def bench_conv(name: str, N: int, C: int, O: int, H: int, k: int, repeats: int) -> dict[str, Any]:
    S, T = dlfs.backend("scratch"), dlfs.backend("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, H, H), dtype=np.float32)
    g = rng.standard_normal((N, O, H, H), dtype=np.float32)
    s_layer, t_layer = S.Conv2D(O, k, weight_init="glorot"), T.Conv2D(O, k, weight_init="glorot")
    s_layer.forward(x[:1]), t_layer.forward(x[:1])  # build
    s, t = layer_pair_time(s_layer, t_layer, x, g, repeats)
    gflop = 3 * 2.0 * N * O * H * H * C * k * k / 1e9
    return row(name, s, t, gflop, TARGET)


def run(quick: bool) -> list[dict[str, Any]]:
    if quick:  # tiny sizes: checks that everything runs, measures nothing meaningful
        return [bench_conv("conv2d 1->4 (quick)", 4, 1, 4, 8, 3, 2),
                bench_conv("conv2d 4->8 (quick)", 4, 4, 8, 8, 3, 2)]
    return [bench_conv("conv2d 1->32 28x28 k5 b64 fwd+bwd", 64, 1, 32, 28, 5, 30),
            bench_conv("conv2d 32->64 28x28 k5 b64 fwd+bwd", 64, 32, 64, 28, 5, 15)]

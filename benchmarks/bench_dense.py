"""A dense training step, float32: 784 -> 256 (tanh) -> 10, batch 128, softmax cross-entropy, SGD momentum 0.9.

scratch: ``net.train_batch(x, y)`` then ``optimizer.step()``. torch: the same network's ``nn.Sequential`` in an
idiomatic loop (``zero_grad``, ``F.cross_entropy``, ``backward``, ``torch.optim.SGD(momentum=0.9).step()``).
Work: 6 * batch * (784*256 + 256*10) (forward, plus weight and activation gradients, the usual 3x).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

import dlfs
from benchmarks.common import row, time_pair

TARGET = 1.0


def bench_dense(name: str, batch: int, d_in: int, hidden: int, classes: int, repeats: int) -> dict[str, Any]:
    S, T = dlfs.backend("scratch"), dlfs.backend("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, d_in), dtype=np.float32)
    y = rng.integers(0, classes, batch)

    def net(B: Any) -> Any:
        return B.NeuralNetwork([B.Dense(hidden, "tanh", weight_init="glorot"), B.Dense(classes, weight_init="glorot")],
                               B.SoftmaxCrossEntropy(), seed=1, dtype="float32")

    s_net, t_net = net(S), net(T)
    s_opt = S.SGDMomentum(lr=0.01, momentum=0.9)
    s_opt.bind(s_net)
    t_net.forward(x[:1])  # build
    module = t_net.module
    t_opt = torch.optim.SGD(module.parameters(), lr=0.01, momentum=0.9)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def scratch_step() -> None:
        s_net.train_batch(x, y)
        s_opt.step()

    def torch_step() -> None:
        t_opt.zero_grad(set_to_none=True)
        F.cross_entropy(module(xt), yt).backward()
        t_opt.step()

    s, t = time_pair(scratch_step, torch_step, repeats, warmup=5)
    gflop = 6.0 * batch * (d_in * hidden + hidden * classes) / 1e9
    return row(name, s, t, gflop, TARGET)


def run(quick: bool) -> list[dict[str, Any]]:
    if quick:
        return [bench_dense("dense step 20->8->3 (quick)", 16, 20, 8, 3, 3)]
    return [bench_dense("dense step 784->256->10 b128", 128, 784, 256, 10, 200)]

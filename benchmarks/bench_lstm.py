"""LSTM forward + backward, float32: batch 32, 25 time steps, 65 inputs (Tiny Shakespeare's vocabulary), hidden 256.

scratch: ``LSTMLayer.forward(x)`` then ``backward(g)`` (backpropagation through time written by hand, one fused
matmul per step each way). torch: the same layer's ``nn.LSTM(batch_first=True)`` on tensors, ``out.backward(g)``
with x requiring a gradient, so both compute the output, dL/dx and every weight gradient for the same random
upstream gradient. On CPU, PyTorch runs ``nn.LSTM`` as oneDNN's fused RNN kernel (``mkldnn_rnn_layer`` forward
and backward), not as separate ops.

Work: the forward's matmuls are 2 * batch * time * 4H * (V + H) FLOP (input and recurrent projections); the
backward has twice that (weight gradients and input/state gradients): 3x in all. Elementwise work is not counted.

A second row, "GEMMs alone", times only the matrix products the scratch fast form makes for one step -- the input
projection, 2 x 25 recurrent products, dW_x, dW_h and dx, on the same shapes -- in NumPy (`@`) and in torch
(`torch.mm` on the same arrays): the two libraries' BLAS on identical work, no elementwise ops and no autograd. Its
ratio is the bound under the layer's ratio: the fast form cannot beat torch by more than its GEMMs do.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import dlfs
from benchmarks.common import layer_pair_time, row, time_pair

TARGET = 1.0


def bench_lstm(name: str, batch: int, steps: int, vocab: int, hidden: int, repeats: int) -> dict[str, Any]:
    S, T = dlfs.backend("scratch"), dlfs.backend("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, steps, vocab), dtype=np.float32)
    g = rng.standard_normal((batch, steps, hidden), dtype=np.float32)
    s_layer, t_layer = S.LSTMLayer(hidden), T.LSTMLayer(hidden)
    s_layer.forward(x)
    t_layer.forward(x)
    t_layer.load_state_dict(s_layer.state_dict())
    s, t = layer_pair_time(s_layer, t_layer, x, g, repeats, warmup=3)
    gflop = 3 * 2.0 * batch * steps * 4 * hidden * (vocab + hidden) / 1e9
    return row(name, s, t, gflop, TARGET)


def bench_lstm_gemms(name: str, batch: int, steps: int, vocab: int, hidden: int, repeats: int
                     ) -> dict[str, Any]:
    """The fast form's matrix products for one forward+backward, in NumPy and in torch.mm: no target."""
    import torch

    rng = np.random.default_rng(1)
    H4, TN = 4 * hidden, batch * steps
    a = {k: rng.standard_normal(shape, dtype=np.float32) for k, shape in [
        ("X", (TN, vocab)), ("Wx", (vocab, H4)), ("h", (batch, hidden)), ("Wh", (hidden, H4)),
        ("da", (batch, H4)), ("WhT", (H4, hidden)), ("XT", (vocab, TN)), ("HT", (hidden, TN)),
        ("dA", (TN, H4)), ("WxT", (H4, vocab))]}
    t = {k: torch.from_numpy(v) for k, v in a.items()}

    def products(m: Any, p: dict[str, Any]) -> None:
        m(p["X"], p["Wx"])  # input projection of every step
        for _ in range(steps):
            m(p["h"], p["Wh"])  # forward recurrent product
        for _ in range(steps):
            m(p["da"], p["WhT"])  # backward recurrent product
        m(p["XT"], p["dA"]), m(p["HT"], p["dA"]), m(p["dA"], p["WxT"])  # dW_x, dW_h, dx

    s, tt = time_pair(lambda: products(np.matmul, a), lambda: products(torch.mm, t), repeats, warmup=3)
    gflop = 3 * 2.0 * batch * steps * 4 * hidden * (vocab + hidden) / 1e9
    return row(name, s, tt, gflop, None)


def run(quick: bool) -> list[dict[str, Any]]:
    if quick:
        return [bench_lstm("lstm fwd+bwd b4 t5 v7 h8 (quick)", 4, 5, 7, 8, 3),
                bench_lstm_gemms("lstm GEMMs alone b4 t5 v7 h8 (quick)", 4, 5, 7, 8, 3)]
    return [bench_lstm("lstm fwd+bwd b32 t25 v65 h256", 32, 25, 65, 256, 60),
            bench_lstm_gemms("lstm GEMMs alone, numpy vs torch.mm", 32, 25, 65, 256, 60)]


if __name__ == "__main__":
    from benchmarks.common import format_rows, matmul_peak

    print(format_rows(run(False), matmul_peak()))

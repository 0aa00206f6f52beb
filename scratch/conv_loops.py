"""Convolution with explicit loops, step by step as chapter 5 explains it (the teaching version).

Slow on purpose: every sum is a Python loop, so each line can be read against the formula. The layer used
for training is the vectorised ``scratch.conv.Conv2D``; ``Conv2DLoops`` here computes the same numbers (the
parity suite checks it against PyTorch, against ``Conv2D`` and against finite differences). It is a
scratch-only module: PyTorch needs no loop twin, so it is not in the shared interface (``__all__`` of the
package); import it as ``from scratch.conv_loops import Conv2DLoops``.

The steps:

1. ``conv_1d``: a 1-D input and kernel, "same" padding, stride 1 — ``out[o] = sum_p x_pad[o + p] * w[p]``.
2. ``conv_1d_grads``: each output got ``x_pad[o + p] * w[p]``; so ``dx_pad[o + p] += g[o] * w[p]`` and
   ``dw[p] += g[o] * x_pad[o + p]``. The backward runs the same loops, sending gradients back along the
   same edges.
3. ``conv_2d``/``conv_2d_grads``: the same in two dimensions, now with a stride and any padding.
4. ``conv_2d_multi``/``conv_2d_multi_grads``: batches and channels — output channel o of sample n is the sum
   over input channels c of ``conv_2d(x[n, c], W[c, o])``.

Like PyTorch (and unlike a textbook convolution) the kernel is not flipped: this is a cross-correlation.
"""

from __future__ import annotations

import numpy as np

from dlfs.windows import Pads
from scratch.base import ParamOperation
from scratch.fast.conv import Conv2D

__all__ = ["conv_1d", "conv_1d_grads", "pad_2d", "conv_2d", "conv_2d_grads", "conv_2d_multi", "conv_2d_multi_grads",
           "Conv2DLoops"]


# --- 1. one dimension ----------------------------------------------------------------------------------------
def _same_pads_1d(k: int) -> tuple[int, int]:
    """k - 1 zeros in all, (k - 1) // 2 before: the output has the input's length (PyTorch's "same")."""
    return (k - 1) // 2, k - 1 - (k - 1) // 2


def conv_1d(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """x (L,), w (k,) -> out (L,): ``out[o] = sum_p x_pad[o + p] * w[p]`` with "same" zero padding."""
    before, after = _same_pads_1d(len(w))
    x_pad = np.concatenate([np.zeros(before, x.dtype), x, np.zeros(after, x.dtype)])
    out = np.zeros(len(x), dtype=x.dtype)
    for o in range(len(out)):
        for p in range(len(w)):
            out[o] += x_pad[o + p] * w[p]
    return out


def conv_1d_grads(x: np.ndarray, w: np.ndarray, out_grad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """dL/dx (L,) and dL/dw (k,) given dL/dout (L,) for ``conv_1d(x, w)``."""
    before, after = _same_pads_1d(len(w))
    x_pad = np.concatenate([np.zeros(before, x.dtype), x, np.zeros(after, x.dtype)])
    dx_pad, dw = np.zeros_like(x_pad), np.zeros_like(w)
    for o in range(len(out_grad)):
        for p in range(len(w)):
            dx_pad[o + p] += out_grad[o] * w[p]  # x_pad[o + p] reached out[o] with weight w[p]
            dw[p] += out_grad[o] * x_pad[o + p]  # w[p] reached out[o] carrying x_pad[o + p]
    return dx_pad[before : before + len(x)], dw


# --- 2. two dimensions, with stride and padding --------------------------------------------------------------
def pad_2d(x: np.ndarray, pads: Pads) -> np.ndarray:
    """x (H, W) with ``pads = (top, bottom, left, right)`` rows/columns of zeros around it."""
    top, bottom, left, right = pads
    out = np.zeros((x.shape[0] + top + bottom, x.shape[1] + left + right), dtype=x.dtype)
    out[top : top + x.shape[0], left : left + x.shape[1]] = x
    return out


def _out_size(n_pad: int, k: int, s: int) -> int:
    return (n_pad - k) // s + 1


def conv_2d(x: np.ndarray, w: np.ndarray, stride: tuple[int, int] = (1, 1), pads: Pads = (0, 0, 0, 0)
            ) -> np.ndarray:
    """x (H, W), w (kh, kw) -> out (Ho, Wo): ``out[h, v] = sum_{i, j} x_pad[s*h + i, s*v + j] * w[i, j]``."""
    x_pad, (kh, kw), (sh, sw) = pad_2d(x, pads), w.shape, stride
    out = np.zeros((_out_size(x_pad.shape[0], kh, sh), _out_size(x_pad.shape[1], kw, sw)), dtype=x.dtype)
    for h in range(out.shape[0]):
        for v in range(out.shape[1]):
            for i in range(kh):
                for j in range(kw):
                    out[h, v] += x_pad[sh * h + i, sw * v + j] * w[i, j]
    return out


def conv_2d_grads(x: np.ndarray, w: np.ndarray, out_grad: np.ndarray, stride: tuple[int, int] = (1, 1),
                  pads: Pads = (0, 0, 0, 0)) -> tuple[np.ndarray, np.ndarray]:
    """dL/dx (H, W) and dL/dw (kh, kw) given dL/dout (Ho, Wo) for ``conv_2d(x, w, stride, pads)``."""
    x_pad, (kh, kw), (sh, sw) = pad_2d(x, pads), w.shape, stride
    dx_pad, dw = np.zeros_like(x_pad), np.zeros_like(w)
    for h in range(out_grad.shape[0]):
        for v in range(out_grad.shape[1]):
            for i in range(kh):
                for j in range(kw):
                    dx_pad[sh * h + i, sw * v + j] += out_grad[h, v] * w[i, j]
                    dw[i, j] += out_grad[h, v] * x_pad[sh * h + i, sw * v + j]
    top, _, left, _ = pads
    return dx_pad[top : top + x.shape[0], left : left + x.shape[1]], dw


# --- 3. batches and channels ---------------------------------------------------------------------------------
def conv_2d_multi(x: np.ndarray, W: np.ndarray, stride: tuple[int, int] = (1, 1), pads: Pads = (0, 0, 0, 0)
                  ) -> np.ndarray:
    """x (N, C, H, W), W (C, O, kh, kw) -> out (N, O, Ho, Wo): ``out[n, o] = sum_c conv_2d(x[n, c], W[c, o])``."""
    (N, C, H, W_), (O, kh, kw) = x.shape, W.shape[1:]
    Ho, Wo = _out_size(H + pads[0] + pads[1], kh, stride[0]), _out_size(W_ + pads[2] + pads[3], kw, stride[1])
    out = np.zeros((N, O, Ho, Wo), dtype=x.dtype)
    for n in range(N):
        for o in range(O):
            for c in range(C):
                out[n, o] += conv_2d(x[n, c], W[c, o], stride, pads)
    return out


def conv_2d_multi_grads(x: np.ndarray, W: np.ndarray, out_grad: np.ndarray, stride: tuple[int, int] = (1, 1),
                        pads: Pads = (0, 0, 0, 0)) -> tuple[np.ndarray, np.ndarray]:
    """dL/dx (N, C, H, W) and dL/dW (C, O, kh, kw) given dL/dout (N, O, Ho, Wo) for ``conv_2d_multi``.

    Every (sample, input channel, output channel) triple is one ``conv_2d``: its gradients add up.
    """
    dx, dW = np.zeros_like(x), np.zeros_like(W)
    N, C = x.shape[:2]
    for n in range(N):
        for o in range(W.shape[1]):
            for c in range(C):
                dx_nc, dw_co = conv_2d_grads(x[n, c], W[c, o], out_grad[n, o], stride, pads)
                dx[n, c] += dx_nc
                dW[c, o] += dw_co
    return dx, dW


class Conv2DLoopsOperation(ParamOperation):
    """``conv_2d_multi`` as an Operation: x (N, C, H, W) and W (C, O, kh, kw) -> (N, O, Ho, Wo)."""

    def __init__(self, param: np.ndarray, stride: tuple[int, int], pads: Pads) -> None:
        super().__init__(param)
        self.stride, self.pads = stride, pads

    def _output(self) -> np.ndarray:
        return conv_2d_multi(self.input_, self.param, self.stride, self.pads)

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        dx, self._dW = conv_2d_multi_grads(self.input_, self.param, output_grad, self.stride, self.pads)
        return dx

    def _param_grad(self, output_grad: np.ndarray) -> np.ndarray:
        dW, self._dW = getattr(self, "_dW", None), None  # from _input_grad, unless dx was skipped
        if dW is None:
            dW = conv_2d_multi_grads(self.input_, self.param, output_grad, self.stride, self.pads)[1]
        return dW


class Conv2DLoops(Conv2D):
    """``Conv2D`` with its convolution computed by the loops above: same arguments, parameters and numbers,
    thousands of times slower. For reading and for tests, not for training."""

    def _make_conv(self, W: np.ndarray) -> ParamOperation:
        return Conv2DLoopsOperation(W, self.stride, self.pads)

"""The 2-D convolution layer (chapter 5), fast form: im2col + one matrix multiplication per block.

The book form (``scratch/conv.py``) sums over every pixel, channel and kernel offset in
Python loops; this file computes the same numbers with GEMMs. ``Conv2D`` here is the book's
layer (arguments, checks and initialisation inherited) with only the convolution replaced.

Shapes (NCHW, as PyTorch): input x (N, C, H, W); weight W (C, O, kh, kw) (the book's layout:
in, out, k, k); bias B (1, O, 1, 1); output (N, O, Ho, Wo). A cross-correlation (the kernel is
not flipped):

    out[n, o, h, w] = sum_{c, i, j} xpad[n, c, s*h + i, s*w + j] * W[c, o, i, j]

im2col lays every receptive field out as a column, ``cols[(c, i, j), (n, h, w)] = xpad[n, c, s*h+i,
s*w+j]`` (K = C*kh*kw rows, M = N*Ho*Wo columns), so the convolution is a GEMM, ``Wmat (O, K) @ cols
(K, M)``, and so are both gradients: ``dW = g (O, M) @ cols^T`` and ``dcols = Wmat^T @ g``, which
col2im adds back onto the pixels each column came from. The receptive fields are read through
``as_strided`` views (no Python loop over pixels or batch items); the only loops are over the kh*kw
kernel offsets in col2im and over blocks of the batch sized to a memory budget (so evaluating 10,000
images does not allocate gigabytes of columns).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from dlfs.windows import Pads
from scratch.base import ParamOperation
from scratch.conv import Conv2D as BookConv2D

__all__ = ["Conv2D"]

# im2col columns of at most this many bytes per block of the batch: large enough for one big
# GEMM per block, small enough to stay cache-friendly and never allocate gigabytes for a large
# evaluation batch.
WORKSPACE_BYTES = 8 * 2**20


class Conv2DOperation(ParamOperation):
    """Cross-correlation of x (N, C, H, W) with ``param`` W (C, O, kh, kw): output (N, O, Ho, Wo).

    Forward: im2col + ``Wmat @ cols``. Backward: ``dW^T = cols @ g^T`` and
    ``dx = col2im(Wmat^T @ g)``, both computed in ``_input_grad`` (the columns buffer is reused
    for ``dcols``, so dW must come first); ``_param_grad`` hands over that dW, or computes dW
    alone when the input gradient was skipped (``needs_input_grad = False``: the first layer of
    a network in training).

    Workspace: the zero-bordered padded input, its gradient, the (K, block) columns and the
    gradient's columns are kept between calls and reused while shapes agree (a fresh 100 MB
    array costs more in page faults than the copy into it). The batch is processed in blocks of
    ``block`` samples whose columns take at most ``WORKSPACE_BYTES``: the working set stays in
    cache and a large evaluation batch never allocates gigabytes.
    """

    def __init__(self, param: np.ndarray, stride: tuple[int, int], pads: Pads) -> None:
        super().__init__(param)
        self.stride, self.pads = stride, pads
        self._xpad: np.ndarray | None = None  # (N, C, Hp, Wp) the padded input
        self._dxpad: np.ndarray | None = None  # (N, C, Hp, Wp) its gradient
        # (K, block*Ho*Wo) the columns of one block (then their gradient)
        self._cols: np.ndarray | None = None
        self._g_block: np.ndarray | None = None  # (O, block*Ho*Wo) the output gradient of a block
        # which samples the columns buffer holds, if it is valid
        self._cols_block: tuple[int, int] | None = None
        self._dW: np.ndarray | None = None

    # --- geometry and workspace -------------------------------------------------------------
    def _plan(self, x: np.ndarray) -> None:
        """Sizes for input ``x``; (re)allocate the workspace when they change."""
        N, C, H, W = x.shape
        kh, kw = self.param.shape[2:]
        (sh, sw), (pt, pb, pl, pr) = self.stride, self.pads
        self.Hp, self.Wp = H + pt + pb, W + pl + pr
        self.Ho, self.Wo = (self.Hp - kh) // sh + 1, (self.Wp - kw) // sw + 1
        K, per_sample = C * kh * kw, self.Ho * self.Wo
        self.block = int(max(1, min(N, WORKSPACE_BYTES // (K * per_sample * x.itemsize))))
        shapes = {"_xpad": (N, C, self.Hp, self.Wp), "_cols": (K, self.block * per_sample),
                  "_dxpad": (N, C, self.Hp, self.Wp),
                  "_g_block": (self.param.shape[1], self.block * per_sample)}
        for name, shape in shapes.items():
            buf = getattr(self, name)
            if buf is None or buf.shape != shape or buf.dtype != x.dtype:
                # the padded input's border is zeroed once and stays zero; only the interior is
                # rewritten.
                # (zeros, not empty: pages the inference never touches are never committed)
                setattr(self, name, np.zeros(shape, dtype=x.dtype))
        self._cols_block = None

    def _windows(self, buf: np.ndarray, n0: int, n1: int, writeable: bool = False) -> np.ndarray:
        """The receptive fields of samples n0:n1 of the padded buffer ``buf`` as a view of shape
        (C, kh, kw, n, Ho, Wo): ``view[c, i, j, n, h, w] = buf[n0 + n, c, s*h + i, s*w + j]``."""
        (kh, kw), (sh, sw) = self.param.shape[2:], self.stride
        sn, sc, sy, sx = buf.strides
        return as_strided(buf[n0:], shape=(buf.shape[1], kh, kw, n1 - n0, self.Ho, self.Wo),
                          strides=(sc, sy, sx, sn, sh * sy, sw * sx), writeable=writeable)

    def _im2col(self, n0: int, n1: int) -> np.ndarray:
        """Columns (K, (n1-n0)*Ho*Wo) of samples n0:n1, in the reused buffer."""
        view = self._windows(self._xpad, n0, n1)
        cols = self._cols[:, : (n1 - n0) * self.Ho * self.Wo]
        np.copyto(cols.reshape(view.shape), view)
        self._cols_block = (n0, n1)
        return cols

    def _blocks(self, n: int) -> list[tuple[int, int]]:
        return [(n0, min(n, n0 + self.block)) for n0 in range(0, n, self.block)]

    def _wmat(self) -> np.ndarray:
        """W (C, O, kh, kw) as the GEMM's (O, K) matrix, K ordered (c, i, j) like the columns."""
        C, O, kh, kw = self.param.shape
        return self.param.transpose(1, 0, 2, 3).reshape(O, C * kh * kw)

    # --- forward and backward ---------------------------------------------------------------
    def _output(self) -> np.ndarray:
        x = self.input_
        self._plan(x)
        N, (pt, _, pl, _) = x.shape[0], self.pads
        O, Ho, Wo = self.param.shape[1], self.Ho, self.Wo
        self._xpad[:, :, pt : pt + x.shape[2], pl : pl + x.shape[3]] = x
        wmat = self._wmat()
        out = np.empty((N, O, Ho, Wo), dtype=x.dtype)
        for n0, n1 in self._blocks(N):
            y = wmat @ self._im2col(n0, n1)  # (O, n*Ho*Wo)
            out[n0:n1] = y.reshape(O, n1 - n0, Ho, Wo).transpose(1, 0, 2, 3)
        return out

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        dx, self._dW = self._backward(output_grad, want_dx=True)
        return dx

    def _param_grad(self, output_grad: np.ndarray) -> np.ndarray:
        dW, self._dW = self._dW, None  # computed with dx in _input_grad, unless dx was not wanted
        return self._backward(output_grad, want_dx=False)[1] if dW is None else dW

    def _backward(self, output_grad: np.ndarray, want_dx: bool
                  ) -> tuple[np.ndarray | None, np.ndarray]:
        """dL/dx (N, C, H, W) (None unless ``want_dx``) and dL/dW (C, O, kh, kw), block by
        block."""
        N, C, H, W = self.input_.shape
        C, O, kh, kw = self.param.shape
        Ho, Wo, (pt, _, pl, _) = self.Ho, self.Wo, self.pads
        dxpad = self._dxpad
        if want_dx:
            dxpad[...] = 0  # col2im adds into it
        wmat = self._wmat()
        dWt = np.zeros((C * kh * kw, O), dtype=output_grad.dtype)  # dW transposed: (K, O)
        # the last block's columns are still in the buffer after the forward: start there
        for n0, n1 in reversed(self._blocks(N)):
            n = n1 - n0
            if self._cols_block == (n0, n1):
                cols = self._cols[:, : n * Ho * Wo]
            else:
                cols = self._im2col(n0, n1)
            g = self._g_block[:, : n * Ho * Wo]
            g.reshape(O, n, Ho, Wo)[...] = output_grad[n0:n1].transpose(1, 0, 2, 3)
            dWt += cols @ g.T  # (K, O); faster in OpenBLAS than g @ cols.T for these shapes
            if not want_dx:
                continue
            # overwrites the columns: they are no longer needed
            dcols = np.matmul(wmat.T, g, out=cols)
            self._cols_block = None
            # col2im: every column entry goes back to the pixel it was read from; windows
            # overlap, so add
            target = self._windows(dxpad, n0, n1, writeable=True)
            dcols = dcols.reshape(target.shape)
            for i in range(kh):
                for j in range(kw):
                    target[:, i, j] += dcols[:, i, j]
        dW = np.ascontiguousarray(dWt.reshape(C, kh, kw, O).transpose(0, 3, 1, 2))
        return (dxpad[:, :, pt : pt + H, pl : pl + W].copy() if want_dx else None), dW


class Conv2D(BookConv2D):
    """The book form's ``Conv2D`` (``scratch/conv.py``: arguments, checks, set-up, the same
    draws) with its convolution computed by im2col + GEMM.

    Parameters: W (C, O, kh, kw), B (1, O, 1, 1). Input (N, C, H, W) -> output (N, O, Ho, Wo).
    """

    def _make_conv(self, W: np.ndarray) -> ParamOperation:
        return Conv2DOperation(W, self.stride, self.pads)

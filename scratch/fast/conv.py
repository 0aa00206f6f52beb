"""The 2-D convolution layer (chapter 5), fast form: im2col + one matrix multiplication per block.

The book form (``scratch/conv.py``) sums over every pixel, channel and kernel offset in
Python loops; this file computes the same numbers with GEMMs. ``Conv2D`` here is the book's
layer (arguments, checks and initialisation inherited) with only the convolution replaced.

Shapes (NCHW, as PyTorch): input x (N, C, H, W) (or one unbatched (C, H, W), handled by the
book's layer); weight W (C/groups, O, kh, kw) (the book's layout: in, out, k, k); bias
B (1, O, 1, 1); output (N, O, Ho, Wo). A cross-correlation (the kernel is not flipped), with
stride s, dilation d and o's group g (Cg = C/groups input channels each):

    out[n, o, h, w] = sum_{c, i, j} xpad[n, g*Cg + c, s*h + d*i, s*w + d*j] * W[c, o, i, j]

im2col lays every receptive field out as a column, ``cols[(c, i, j), (n, h, w)] = xpad[n, c,
s*h + d*i, s*w + d*j]`` (K = C*kh*kw rows, M = N*Ho*Wo columns; the dilation is only a longer
stride of the view), so the convolution is a GEMM per group, ``Wmat[g] (O/groups, K/groups) @
cols[g] (K/groups, M)`` -- one batched matmul over the groups -- and so are both gradients:
``dW = g @ cols^T`` and ``dcols = Wmat^T @ g``, which col2im adds back onto the pixels each column
came from. The receptive fields are read through ``as_strided`` views (no Python loop over pixels
or batch items); the only loops are over the kh*kw kernel offsets in col2im and over blocks of the
batch sized to a memory budget (so evaluating 10,000 images does not allocate gigabytes of columns).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from dlfs.windows import Pads
from scratch.base import ParamOperation
from scratch.conv import Conv2D as BookConv2D
from scratch.fast.winograd import WinogradConv, usable

__all__ = ["Conv2D"]

# im2col columns of at most this many bytes per block of the batch: large enough for one big
# GEMM per block, small enough to stay cache-friendly and never allocate gigabytes for a large
# evaluation batch.
WORKSPACE_BYTES = 8 * 2**20
# Winograd's blocks (images of one tile row): their transformed tiles take at most this many bytes
WINOGRAD_BLOCK_BYTES = 6 * 2**20
# the transformed input tiles are kept for the backward up to this size (else recomputed)
WINOGRAD_KEEP_BYTES = 256 * 2**20


class Conv2DOperation(ParamOperation):
    """Cross-correlation of x (N, C, H, W) with ``param`` W (C/groups, O, kh, kw): output
    (N, O, Ho, Wo).

    Forward: im2col + ``Wmat @ cols``, one GEMM per group. Backward: ``dW^T = cols @ g^T`` and
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

    def __init__(self, param: np.ndarray, stride: tuple[int, int], pads: Pads,
                 dilation: tuple[int, int] = (1, 1), groups: int = 1) -> None:
        super().__init__(param)
        self.stride, self.pads, self.dilation, self.groups = stride, pads, dilation, groups
        self._xpad: np.ndarray | None = None  # (N, C, Hp, Wp) the padded input
        self._dxpad: np.ndarray | None = None  # (N, C, Hp, Wp) its gradient
        # (K, block*Ho*Wo) the columns of one block (then their gradient)
        self._cols: np.ndarray | None = None
        self._g_block: np.ndarray | None = None  # (O, block*Ho*Wo) the output gradient of a block
        # which samples the columns buffer holds, if it is valid
        self._cols_block: tuple[int, int] | None = None
        self._dW: np.ndarray | None = None
        # the rule in scratch/fast/winograd.py: 3x3 and 5x5, stride 1, wide enough layers
        kernel, in_channels = param.shape[2:], param.shape[0] * groups
        self._winograd = (WinogradConv(kernel[0], param.dtype)
                          if usable(kernel, stride, dilation, groups, in_channels) else None)

    # --- geometry and workspace -------------------------------------------------------------
    def _plan(self, x: np.ndarray) -> None:
        """Sizes for input ``x``; (re)allocate the workspace when they change."""
        N, C, H, W = x.shape
        kh, kw = self.param.shape[2:]
        (sh, sw), (dh, dw), (pt, pb, pl, pr) = self.stride, self.dilation, self.pads
        self.Hp, self.Wp = H + pt + pb, W + pl + pr
        self.Ho = (self.Hp - dh * (kh - 1) - 1) // sh + 1
        self.Wo = (self.Wp - dw * (kw - 1) - 1) // sw + 1
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
        (C, kh, kw, n, Ho, Wo):
        ``view[c, i, j, n, h, w] = buf[n0 + n, c, s*h + d*i, s*w + d*j]``."""
        (kh, kw), (sh, sw), (dh, dw) = self.param.shape[2:], self.stride, self.dilation
        sn, sc, sy, sx = buf.strides
        return as_strided(buf[n0:], shape=(buf.shape[1], kh, kw, n1 - n0, self.Ho, self.Wo),
                          strides=(sc, dh * sy, dw * sx, sn, sh * sy, sw * sx),
                          writeable=writeable)

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
        """W (C/groups, O, kh, kw) as the GEMMs' (groups, O/groups, K/groups) matrices, K ordered
        (c, i, j) like the columns: ``Wmat[g, o, (c, i, j)] = W[c, g*O/groups + o, i, j]``."""
        Cg, O, kh, kw = self.param.shape
        G = self.groups
        return self.param.reshape(Cg, G, O // G, kh, kw).transpose(1, 2, 0, 3, 4).reshape(
            G, O // G, Cg * kh * kw)

    # --- forward and backward ---------------------------------------------------------------
    def _output(self) -> np.ndarray:
        x = self.input_
        if self._winograd is not None:
            return self._winograd_output(x)
        self._plan(x)
        N, (pt, _, pl, _) = x.shape[0], self.pads
        O, Ho, Wo = self.param.shape[1], self.Ho, self.Wo
        self._xpad[:, :, pt : pt + x.shape[2], pl : pl + x.shape[3]] = x
        wmat, G = self._wmat(), self.groups
        out = np.empty((N, O, Ho, Wo), dtype=x.dtype)
        for n0, n1 in self._blocks(N):
            cols = self._im2col(n0, n1)  # (K, n*Ho*Wo): the groups' K/groups rows one after another
            y = wmat @ cols.reshape(G, -1, cols.shape[1])  # (groups, O/groups, n*Ho*Wo)
            out[n0:n1] = y.reshape(O, n1 - n0, Ho, Wo).transpose(1, 0, 2, 3)
        return out

    def _winograd_output(self, x: np.ndarray) -> np.ndarray:
        """The same convolution by F(4x4, r x r) (``scratch/fast/winograd.py``)."""
        wino, (N, C) = self._winograd, x.shape[:2]
        wino.plan(x, self.param.shape[1], self.pads, WINOGRAD_BLOCK_BYTES)
        keep = self.training and wino.alpha**2 * C * N * wino.th * wino.tw * x.itemsize <= (
            WINOGRAD_KEEP_BYTES)
        return wino.forward(x, self.param, keep)

    def _input_grad(self, output_grad: np.ndarray) -> np.ndarray:
        dx, self._dW = self._backward(output_grad, want_dx=True)
        return dx

    def _param_grad(self, output_grad: np.ndarray) -> np.ndarray:
        dW, self._dW = self._dW, None  # computed with dx in _input_grad, unless dx was not wanted
        return self._backward(output_grad, want_dx=False)[1] if dW is None else dW

    def _backward(self, output_grad: np.ndarray, want_dx: bool
                  ) -> tuple[np.ndarray | None, np.ndarray]:
        """dL/dx (N, C, H, W) (None unless ``want_dx``) and dL/dW (C/groups, O, kh, kw), block
        by block."""
        if self._winograd is not None:
            return self._winograd.backward(output_grad, want_dx)
        N, C, H, W = self.input_.shape
        Cg, O, kh, kw = self.param.shape
        Ho, Wo, (pt, _, pl, _), G = self.Ho, self.Wo, self.pads, self.groups
        dxpad = self._dxpad
        if want_dx:
            dxpad[...] = 0  # col2im adds into it
        wmat = self._wmat()
        # dW transposed, per group: (groups, K/groups, O/groups)
        dWt = np.zeros((G, Cg * kh * kw, O // G), dtype=output_grad.dtype)
        # the last block's columns are still in the buffer after the forward: start there
        for n0, n1 in reversed(self._blocks(N)):
            n = n1 - n0
            if self._cols_block == (n0, n1):
                cols = self._cols[:, : n * Ho * Wo]
            else:
                cols = self._im2col(n0, n1)
            g = self._g_block[:, : n * Ho * Wo]
            g.reshape(O, n, Ho, Wo)[...] = output_grad[n0:n1].transpose(1, 0, 2, 3)
            cols_g, g_g = cols.reshape(G, -1, n * Ho * Wo), g.reshape(G, -1, n * Ho * Wo)
            # (groups, K/groups, O/groups); faster in OpenBLAS than g @ cols.T for these shapes
            dWt += cols_g @ g_g.transpose(0, 2, 1)
            if not want_dx:
                continue
            # overwrites the columns (a view of them): they are no longer needed
            np.matmul(wmat.transpose(0, 2, 1), g_g, out=cols_g)  # dcols, (K, n*Ho*Wo)
            self._cols_block = None
            # col2im: every column entry goes back to the pixel it was read from; windows
            # overlap, so add
            target = self._windows(dxpad, n0, n1, writeable=True)
            dcols = cols.reshape(target.shape)
            for i in range(kh):
                for j in range(kw):
                    target[:, i, j] += dcols[:, i, j]
        # dWt[g, (c, i, j), o] = dW[c, g*O/groups + o, i, j]
        dW = np.ascontiguousarray(dWt.reshape(G, Cg, kh, kw, O // G).transpose(1, 0, 4, 2, 3)
                                  ).reshape(Cg, O, kh, kw)
        return (dxpad[:, :, pt : pt + H, pl : pl + W].copy() if want_dx else None), dW


class Conv2D(BookConv2D):
    """The book form's ``Conv2D`` (``scratch/conv.py``: arguments, checks, set-up, the same
    draws) with its convolution computed by im2col + one batched GEMM over the groups.

    Parameters: W (C/groups, O, kh, kw), B (1, O, 1, 1). Input (N, C, H, W) -> output
    (N, O, Ho, Wo); an unbatched (C, H, W) -> (O, Ho, Wo).
    """

    def _make_conv(self, W: np.ndarray) -> ParamOperation:
        return Conv2DOperation(W, self.stride, self.pads, self.dilation, self.groups)

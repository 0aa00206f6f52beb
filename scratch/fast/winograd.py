"""Winograd's minimal filtering (chapter 5, fast form): a stride-1 convolution, fewer multiplies.

The im2col form (``scratch/fast/conv.py``) spends r*r multiply-adds per output pixel, input
channel and output channel; for a wide layer (32 -> 64 channels, 5x5) that is three GEMMs which,
even at the machine's matmul peak, take as long as PyTorch's whole step. Winograd's F(m x m, r x r)
computes an m x m tile of outputs from an (m + r - 1)^2 tile of inputs with (m + r - 1)^2
multiplies instead of m^2 r^2: for F(4x4, 5x5), 64 instead of 400. In one dimension, for a tile d
of alpha = m + r - 1 inputs and a filter g of r taps, the m outputs of the cross-correlation
y_u = sum_k d_{u+k} g_k are

    y = A^T [ (G g) * (B^T d) ]       (* elementwise; A^T (m, alpha), G (alpha, r), B^T (alpha^2))

and in two dimensions, for a tile D (alpha x alpha) and a filter W (r x r),

    Y = A^T [ (G W G^T) * (B^T D B) ] A.

The matrices come from the Cook-Toom construction: evaluate both polynomials at alpha points
(``POINTS``; one is "infinity", the leading coefficient), multiply pointwise, interpolate.
Correlation is the transpose of polynomial multiplication, so with V_n the Vandermonde matrix of
the points (rows p^0 .. p^{n-1}): A^T = V_m^T, G = V_r, B^T = V_alpha^{-T}. ``cook_toom`` builds
them exactly, in fractions, and rounds once.

Over channels the elementwise product becomes one matrix product per point (a, b) of the tile,
``M[ab] (tiles, O) = V[ab] (tiles, C) @ U[ab] (C, O)``, with U = G W G^T the transformed filters
and V = B^T D B the transformed input tiles. The gradients are the transposed maps, exactly (the
map is linear in W and in D): dM = A dY A^T, dU = V^T dM, dV = dM U^T, then dW = G^T dU G, and
dD = B dV B^T is added back onto the overlapping input tiles.

Layout is most of the cost: the products are about a third of the time, the rest is moving tiles.
So the images are held pixel-major, (H, W, N, C), and tiles point-major with channels last,
(alpha, alpha, tiles, C): every copy between images and tiles then moves runs of (images,
channels), hundreds of numbers long, where in NCHW the innermost run is one row of 7 tiles and
NumPy's overhead per run dominates. The only NCHW <-> pixel-major steps are the conversions of
x, out, dL/dout and dL/dx, done in chunks that stay in cache (docs/convolutions.md has the
timings).

Rounding: the points 0, +-1, +-2, +-1/2 keep the entries small, but the transforms add terms of
different sizes. On the benchmark layer (32 -> 64, 5x5, 28x28) the normwise error against float64
PyTorch is about 6e-6 (output) and 1e-5 (dW) in float32 and 1e-14 in float64: inside the parity
table's bounds (1e-4 and 1e-9), which parity_tests/test_winograd.py holds it to.
"""

from __future__ import annotations

from fractions import Fraction
from functools import cache

import numpy as np
from numpy.lib.stride_tricks import as_strided

__all__ = ["TILE", "cook_toom", "usable", "WinogradConv", "to_image_major", "to_pixel_major"]

TILE = 4  # m: outputs per tile side
# alpha = m + r - 1 interpolation points per kernel size r; None is the point at infinity
POINTS: dict[int, tuple[Fraction | None, ...]] = {
    # 2 and -1/2 rather than +-2: half the float32 error of F(4x4, 3x3) (1.5e-6 against 3e-6)
    3: (Fraction(0), Fraction(1), Fraction(-1), Fraction(2), Fraction(-1, 2), None),
    5: (Fraction(0), Fraction(1), Fraction(-1), Fraction(2), Fraction(-2), Fraction(1, 2),
        Fraction(-1, 2), None),
}
# rows of (n, c) moved per chunk of a transposed copy between the two image layouts
_TRANSPOSE_ROWS = 256
MIN_CHANNELS = 16  # below this the per-point GEMMs are too thin: im2col is faster (1 -> 32: 2x)


def usable(kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int],
           groups: int, in_channels: int) -> bool:
    """The rule for choosing Winograd over im2col: a square 3x3 or 5x5 kernel, stride 1, no
    dilation, one group, and at least ``MIN_CHANNELS`` input channels."""
    return (kernel[0] == kernel[1] and kernel[0] in POINTS and stride == (1, 1)
            and dilation == (1, 1) and groups == 1 and in_channels >= MIN_CHANNELS)


def _vandermonde(points: tuple[Fraction | None, ...], n: int) -> list[list[Fraction]]:
    """Rows p^0 .. p^{n-1} for each point; the point at infinity picks the leading coefficient."""
    return [[Fraction(int(j == n - 1)) for j in range(n)] if p is None
            else [p ** j for j in range(n)] for p in points]


def _inverse(M: list[list[Fraction]]) -> list[list[Fraction]]:
    """Gauss-Jordan elimination in exact arithmetic."""
    n = len(M)
    A = [row[:] + [Fraction(int(i == j)) for j in range(n)] for i, row in enumerate(M)]
    for col in range(n):
        pivot = next(r for r in range(col, n) if A[r][col] != 0)
        A[col], A[pivot] = A[pivot], A[col]
        A[col] = [v / A[col][col] for v in A[col]]
        for r in range(n):
            if r != col and A[r][col] != 0:
                A[r] = [a - A[r][col] * b for a, b in zip(A[r], A[col])]
    return [row[n:] for row in A]


@cache
def cook_toom(m: int, r: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(A^T (m, alpha), G (alpha, r), B^T (alpha, alpha)) of F(m, r), float64."""
    points = POINTS[r]
    alpha = m + r - 1
    AT = np.array(_vandermonde(points, m), dtype=float).T  # V_m^T
    G = np.array(_vandermonde(points, r), dtype=float)  # V_r
    BT = np.array(_inverse(_vandermonde(points, alpha)), dtype=float).T  # V_alpha^{-T}
    return AT, G, BT


def to_pixel_major(src: np.ndarray, dst: np.ndarray) -> None:
    """dst[y, x, n, c] = src[n, c, y, x]: an (N, C, H, W) image batch into an (H, W, N, C) view.
    A few images at a time: one transposed copy of the whole batch strides through memory and
    runs ~6x slower than chunks that stay in cache (18 ms against 2.7 for 64x64x28x28)."""
    step = max(1, _TRANSPOSE_ROWS // src.shape[1])
    for n0 in range(0, src.shape[0], step):
        np.copyto(dst[:, :, n0:n0 + step], src[n0:n0 + step].transpose(2, 3, 0, 1))


def to_image_major(src: np.ndarray, dst: np.ndarray) -> None:
    """dst[n, c, y, x] = src[y, x, n, c]: the inverse of ``to_pixel_major``. One image row at a
    time (chunks of images run ~4x slower this way round: 15 ms against 3.5 for 64x64x28x28)."""
    for y in range(src.shape[0]):
        np.copyto(dst[:, :, y], src[y].transpose(1, 2, 0))


class WinogradConv:
    """F(4x4, r x r) for one convolution layer: x (N, C, H, W) and W (C, O, r, r) -> out
    (N, O, Ho, Wo), and back.

    Images are held pixel-major, (H, W, N, C), so that every copy between the images and the tiles
    moves whole runs of (images, channels) (in NCHW the innermost run is one 7-tile row). Work
    goes one tile row at a time, in blocks of ``block`` images (a memory budget, like im2col's).
    Each block's transformed tiles V (alpha^2, tiles, C) are kept for the backward when training,
    otherwise dropped and transformed again.
    """

    def __init__(self, r: int, dtype: np.dtype) -> None:
        AT, G, BT = cook_toom(TILE, r)
        self.r, self.alpha = r, TILE + r - 1
        self.AT, self.BT = AT.astype(dtype), BT.astype(dtype)  # (m, alpha), (alpha, alpha)
        self.A, self.B = np.ascontiguousarray(self.AT.T), np.ascontiguousarray(self.BT.T)
        self.KG = np.kron(G, G).astype(dtype)  # (alpha^2, r^2): vec(G W G^T) = KG vec(W)
        self._V: list[np.ndarray] = []
        self._shape: tuple | None = None

    def plan(self, x: np.ndarray, O: int, pads: tuple[int, int, int, int], budget: int) -> None:
        """Tile counts, block size and the pixel-major buffers for input x (N, C, H, W)."""
        N, C, H, W = x.shape
        pt, pb, pl, pr = pads
        self.pads, self.in_shape = pads, x.shape
        self.Ho, self.Wo = H + pt + pb - self.r + 1, W + pl + pr - self.r + 1
        self.th, self.tw = -(-self.Ho // TILE), -(-self.Wo // TILE)
        # the tiled input extent: th*m outputs need th*m + r - 1 input rows
        Ht, Wt = self.th * TILE + self.r - 1, self.tw * TILE + self.r - 1
        per_tile = self.alpha**2 * 2 * (C + O) * x.itemsize  # D, V, M, dM
        self.block = int(max(1, min(N, budget // (per_tile * self.tw))))
        shape = (N, C, O, Ht, Wt, x.dtype)
        if shape != self._shape:  # zeros: the border and the tiles past the output stay zero
            self._shape = shape
            self._x = np.zeros((Ht, Wt, N, C), x.dtype)  # the zero-bordered input
            self._dx = np.zeros((Ht, Wt, N, C), x.dtype)  # its gradient
            # the tiled output, then its gradient
            self._y = np.zeros((self.th * TILE, self.tw * TILE, N, O), x.dtype)

    def blocks(self, N: int) -> list[tuple[int, int]]:
        """The blocks of images of one tile row."""
        return [(n0, min(N, n0 + self.block)) for n0 in range(0, N, self.block)]

    def _rows_and_blocks(self) -> list[tuple[int, int, int]]:
        return [(t, n0, n1) for t in range(self.th) for n0, n1 in self.blocks(self.in_shape[0])]

    @staticmethod
    def _two_sided(L: np.ndarray, X: np.ndarray) -> np.ndarray:
        """L X L^T on every tile: X (k, k, rest) -> (l, l, rest) for L (l, k), as two batched
        matmuls (rows, then columns) -- 1/4 of the work of one Kronecker matmul. Each is batched
        over the axis it leaves alone: about twice as fast as one (l, k) @ (k, k * rest) GEMM."""
        Z = np.matmul(L, X.transpose(1, 0, 2))  # Z[j, a] = sum_i L[a, i] X[i, j]: (k, l, rest)
        return np.matmul(L, Z.transpose(1, 0, 2))  # out[a, b] = sum_j L[b, j] Z[j, a]

    def _tiles(self, t: int, n0: int, n1: int) -> np.ndarray:
        """Transformed input tiles of tile row t, images n0:n1: V (alpha^2, tiles, C), tiles
        ordered (tw, n). D[i, j, tw, n, c] = x[4 t + i, 4 tw + j, n0 + n, c] is a strided view of
        overlapping tiles, copied once."""
        a, (sy, sx, sn, sc) = self.alpha, self._x.strides
        C = self._x.shape[3]
        D = as_strided(self._x[TILE * t:, :, n0:], (a, a, self.tw, n1 - n0, C),
                       (sy, sx, TILE * sx, sn, sc))
        return self._two_sided(self.BT, np.ascontiguousarray(D).reshape(a, a, -1)).reshape(
            a * a, -1, C)

    def forward(self, x: np.ndarray, W: np.ndarray, keep: bool) -> np.ndarray:
        """out (N, O, Ho, Wo): the convolution of x (N, C, H, W) with W (C, O, r, r), zero-padded
        by ``pads`` (from ``plan``)."""
        (N, C, H, Wd), (pt, _, pl, _) = x.shape, self.pads
        O, a2, m = W.shape[1], self.alpha**2, TILE
        to_pixel_major(x, self._x[pt:pt + H, pl:pl + Wd])
        # U[ab] (C, O): the transformed filters, G W G^T for every (c, o)
        self.U = (self.KG @ W.transpose(2, 3, 0, 1).reshape(-1, C * O)).reshape(a2, C, O)
        y = self._y.reshape(self.th, m, self.tw, m, N, O)  # y[t, u, tw, v, n, o]
        self._V = []
        for t, n0, n1 in self._rows_and_blocks():
            V = self._tiles(t, n0, n1)
            M = V @ self.U  # (alpha^2, tiles, O): one (tiles, C) @ (C, O) per point
            Y = self._two_sided(self.AT, M.reshape(self.alpha, self.alpha, -1))  # A^T M A
            np.copyto(y[t, :, :, :, n0:n1],
                      Y.reshape(m, m, self.tw, n1 - n0, O).transpose(0, 2, 1, 3, 4))
            if keep:
                self._V.append(V)
        out = np.empty((N, O, self.Ho, self.Wo), dtype=x.dtype)
        to_image_major(self._y[:self.Ho, :self.Wo], out)
        return out

    def backward(self, grad: np.ndarray, want_dx: bool) -> tuple[np.ndarray | None, np.ndarray]:
        """(dL/dx (N, C, H, W) or None, dW (C, O, r, r)) from ``grad`` (N, O, Ho, Wo)."""
        (N, C, H, Wd), (pt, _, pl, _) = self.in_shape, self.pads
        a2, a, m, O = self.alpha**2, self.alpha, TILE, grad.shape[1]
        self._y[self.Ho:], self._y[:, self.Wo:] = 0, 0  # the tiles past the output: no gradient
        to_pixel_major(grad, self._y[:self.Ho, :self.Wo])
        g = self._y.reshape(self.th, m, self.tw, m, N, O)
        UT = np.ascontiguousarray(self.U.transpose(0, 2, 1))  # (alpha^2, O, C)
        dU = np.zeros_like(self.U)
        if want_dx:
            self._dx[...] = 0
        for b, (t, n0, n1) in enumerate(self._rows_and_blocks()):
            # kept in training; else (evaluation mode, over budget) transformed again
            V = self._V[b] if b < len(self._V) else self._tiles(t, n0, n1)
            # the gradient's output tiles, point-major: g[u, v, tw, n, o]
            gt = np.ascontiguousarray(g[t, :, :, :, n0:n1].transpose(0, 2, 1, 3, 4))
            dM = self._two_sided(self.A, gt.reshape(m, m, -1)).reshape(a2, -1, O)  # A dY A^T
            dU += V.transpose(0, 2, 1) @ dM  # (alpha^2, C, O)
            if want_dx:
                dV = dM @ UT  # (alpha^2, tiles, C)
                dD = self._two_sided(self.B, dV.reshape(a, a, -1))  # B dV B^T
                self._add_tiles(dD.reshape(a, a, self.tw, n1 - n0, C), t, n0)
        self._V = []
        # G^T dU G for every (c, o): (r, r, C, O) -> the canonical (C, O, r, r)
        dW = (self.KG.T @ dU.reshape(a2, -1)).reshape(self.r, self.r, C, O)
        dW = np.ascontiguousarray(dW.transpose(2, 3, 0, 1))
        if not want_dx:
            return None, dW
        dx = np.empty(self.in_shape, dtype=grad.dtype)
        to_image_major(self._dx[pt:pt + H, pl:pl + Wd], dx)
        return dx, dW

    def _add_tiles(self, dD: np.ndarray, t: int, n0: int) -> None:
        """Add the tiles dD (alpha, alpha, tw, n, C) of tile row t back onto the pixels they were
        read from. Along a row the tiles overlap (alpha > 4), so they go in 4-column chunks:
        within one chunk they do not. (Rows overlap only between tile rows, one block at a time.)"""
        a, m, (sy, sx, sn, sc) = self.alpha, TILE, self._dx.strides
        n, C = dD.shape[3:]
        for j0 in range(0, a, m):
            wj = min(m, a - j0)
            target = as_strided(self._dx[m * t:, j0:, n0:], (a, self.tw, wj, n, C),
                                (sy, m * sx, sx, sn, sc), writeable=True)
            target += dD[:, j0:j0 + wj].transpose(0, 2, 1, 3, 4)

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
``M[ab] (O, tiles) = U[ab] (O, C) @ V[ab] (C, tiles)``, with U = G W G^T the transformed filters
and V = B^T D B the transformed input tiles. The gradients are the transposed maps, exactly (the
map is linear in W and in D): dM = A dY A^T, dU = dM V^T, dV = U^T dM, then dW = G^T dU G, and
dD = B dV B^T is added back onto the overlapping input tiles. Tiles are stored point-major
(alpha, alpha, channels, tiles), so every product is a plain matmul on contiguous operands (a
transposed operand runs about half as fast in this BLAS on these thin shapes).

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

__all__ = ["TILE", "cook_toom", "usable", "WinogradConv"]

TILE = 4  # m: outputs per tile side
# alpha = m + r - 1 interpolation points per kernel size r; None is the point at infinity
POINTS: dict[int, tuple[Fraction | None, ...]] = {
    # 2 and -1/2 rather than +-2: half the float32 error of F(4x4, 3x3) (1.5e-6 against 3e-6)
    3: (Fraction(0), Fraction(1), Fraction(-1), Fraction(2), Fraction(-1, 2), None),
    5: (Fraction(0), Fraction(1), Fraction(-1), Fraction(2), Fraction(-2), Fraction(1, 2),
        Fraction(-1, 2), None),
}
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


class WinogradConv:
    """F(4x4, r x r) for one convolution layer: x (N, C, H, W) (already zero-padded by the
    caller into ``xpad``) and W (C, O, r, r) -> out (N, O, Ho, Wo), and back.

    The batch is processed in blocks of ``block`` images (a memory budget, like im2col's); each
    block's transformed tiles V (alpha^2, C, tiles) are kept for the backward when training, as
    V^T (alpha^2, tiles, C), the layout of dU = dM V^T (so the backward does not redo the forward's
    transform), otherwise dropped.
    """

    def __init__(self, r: int, dtype: np.dtype) -> None:
        AT, G, BT = cook_toom(TILE, r)
        self.r, self.alpha = r, TILE + r - 1
        self.AT, self.BT = AT.astype(dtype), BT.astype(dtype)  # (m, alpha), (alpha, alpha)
        self.A, self.B = np.ascontiguousarray(self.AT.T), np.ascontiguousarray(self.BT.T)
        self.KG = np.kron(G, G).astype(dtype)  # (alpha^2, r^2): vec(G W G^T) = KG vec(W)
        self._V: list[np.ndarray] = []

    def plan(self, N: int, C: int, O: int, Ho: int, Wo: int, budget: int, itemsize: int) -> None:
        """Tile counts and the block size for an (N, C, ., .) input and (Ho, Wo) output."""
        self.th, self.tw = -(-Ho // TILE), -(-Wo // TILE)
        # the tiled input and output extents: th*m outputs need th*m + r - 1 input rows
        self.Ht, self.Wt = self.th * TILE + self.r - 1, self.tw * TILE + self.r - 1
        per_image = self.alpha**2 * 2 * (C + O) * self.th * self.tw * itemsize  # D, V, M, dM
        self.block = int(max(1, min(N, budget // per_image)))

    def blocks(self, N: int) -> list[tuple[int, int]]:
        return [(n0, min(N, n0 + self.block)) for n0 in range(0, N, self.block)]

    @staticmethod
    def _two_sided(L: np.ndarray, X: np.ndarray) -> np.ndarray:
        """L X L^T on every tile: X (k, k, rest) -> (l, l, rest) for L (l, k), as two matmuls
        (rows, then columns) over the whole block -- 1/4 of the work of one Kronecker matmul."""
        k, l = L.shape[1], L.shape[0]
        Z = (L @ X.reshape(k, -1)).reshape(l, k, -1)  # Z[a, j] = sum_i L[a, i] X[i, j]
        return np.matmul(L, Z)  # out[a, b] = sum_j L[b, j] Z[a, j]

    def _tiles(self, xpad: np.ndarray, n0: int, n1: int) -> np.ndarray:
        """Input tiles of images n0:n1, point-major: D[i, j, c, n, th, tw] = xpad[n0 + n, c,
        4 th + i, 4 tw + j] (overlapping tiles: a strided view, copied once)."""
        sn, sc, sy, sx = xpad.strides
        a, C = self.alpha, xpad.shape[1]
        view = as_strided(xpad[n0:], (a, a, C, n1 - n0, self.th, self.tw),
                          (sy, sx, sc, sn, TILE * sy, TILE * sx))
        return np.ascontiguousarray(view)

    def forward(self, xpad: np.ndarray, W: np.ndarray, out: np.ndarray, keep: bool) -> None:
        """out (N, O, th*4, tw*4) <- the convolution of xpad (N, C, Ht, Wt) with W (C, O, r, r)."""
        N, C = xpad.shape[:2]
        O, a2, m = W.shape[1], self.alpha**2, TILE
        # U[ab] (O, C): the transformed filters, G W G^T for every (o, c)
        self.U = (self.KG @ W.transpose(2, 3, 1, 0).reshape(-1, O * C)).reshape(a2, O, C)
        self._V = []
        for n0, n1 in self.blocks(N):
            n, tiles = n1 - n0, (n1 - n0) * self.th * self.tw
            V = self._two_sided(self.BT, self._tiles(xpad, n0, n1)).reshape(a2, C, tiles)
            M = self.U @ V  # (alpha^2, O, tiles): one (O, C) @ (C, tiles) per point
            Y = self._two_sided(self.AT, M)  # (m, m, O*tiles): A^T M A
            np.copyto(out[n0:n1].reshape(n, O, self.th, m, self.tw, m),
                      Y.reshape(m, m, O, n, self.th, self.tw).transpose(3, 2, 4, 0, 5, 1))
            if keep:  # transposed for the backward's dU = dM V^T (contiguous: twice as fast)
                self._V.append(np.ascontiguousarray(V.transpose(0, 2, 1)))

    def backward(self, xpad: np.ndarray, grad: np.ndarray, dxpad: np.ndarray | None
                 ) -> np.ndarray:
        """dW (C, O, r, r) from ``grad`` (N, O, th*4, tw*4); dL/dxpad added into ``dxpad`` (zeroed
        by the caller) unless it is None."""
        N, C = xpad.shape[:2]
        O, a, m = self.U.shape[1], self.alpha, TILE
        a2 = a * a
        UT = np.ascontiguousarray(self.U.transpose(0, 2, 1))  # (alpha^2, C, O)
        dU = np.zeros_like(self.U)
        for b, (n0, n1) in enumerate(self.blocks(N)):
            n, tiles = n1 - n0, (n1 - n0) * self.th * self.tw
            if b < len(self._V):
                VT = self._V[b]  # (alpha^2, tiles, C)
            else:  # not kept (evaluation mode or over budget): transform the tiles again
                V = self._two_sided(self.BT, self._tiles(xpad, n0, n1)).reshape(a2, C, tiles)
                VT = np.ascontiguousarray(V.transpose(0, 2, 1))
            # the gradient's output tiles, point-major: g[u, v, o, n, th, tw]
            g = np.empty((m, m, O, n, self.th, self.tw), dtype=grad.dtype)
            np.copyto(g, grad[n0:n1].reshape(n, O, self.th, m, self.tw, m
                                             ).transpose(3, 5, 1, 0, 2, 4))
            dM = self._two_sided(self.A, g).reshape(a2, O, tiles)  # A dY A^T
            dU += dM @ VT  # (alpha^2, O, C)
            if dxpad is None:
                continue
            dV = UT @ dM  # (alpha^2, C, tiles)
            dD = self._two_sided(self.B, dV)  # B dV B^T: (alpha, alpha, C*tiles)
            self._add_tiles(dD.reshape(a, a, C, n, self.th, self.tw), dxpad[n0:n1])
        self._V = []
        # G^T dU G for every (o, c): (r, r, O, C) -> the canonical (C, O, r, r)
        dW = (self.KG.T @ dU.reshape(a2, -1)).reshape(self.r, self.r, O, C)
        return np.ascontiguousarray(dW.transpose(3, 2, 0, 1))

    def _add_tiles(self, dD: np.ndarray, dxpad: np.ndarray) -> None:
        """Add the tiles dD (alpha, alpha, C, n, th, tw) back onto the pixels they were read
        from. Tiles overlap (alpha > 4), so they go in 4-row, 4-column chunks: within one chunk the
        tiles do not overlap, and a chunk is reordered to image order once and added as a block."""
        n, C = dxpad.shape[:2]
        th, tw, a, m = self.th, self.tw, self.alpha, TILE
        if a == 2 * m:  # 5x5: sum the four chunks per 4x4 block in tile order, reorder once
            # blocks[u, v, c, n, Y, X]: pixel (4 Y + u, 4 X + v) of xpad
            blocks = np.zeros((m, m, C, n, th + 1, tw + 1), dtype=dD.dtype)
            for i0 in (0, 1):
                for j0 in (0, 1):  # chunk (i0, j0) of tile (th, tw) is on block (th+i0, tw+j0)
                    chunk = dD[i0 * m:(i0 + 1) * m, j0 * m:(j0 + 1) * m]
                    blocks[..., i0:i0 + th, j0:j0 + tw] += chunk
            target = dxpad.reshape(n, C, th + 1, m, tw + 1, m)  # the whole tiled extent
            target += blocks.transpose(3, 2, 4, 0, 5, 1)
            return
        sn, sc, sy, sx = dxpad.strides
        for i0 in range(0, a, m):
            for j0 in range(0, a, m):
                hi, wj = min(m, a - i0), min(m, a - j0)
                chunk = np.empty((n, C, th, hi, tw, wj), dtype=dD.dtype)
                np.copyto(chunk, dD[i0:i0 + hi, j0:j0 + wj].transpose(3, 2, 4, 0, 5, 1))
                if hi == wj == m:  # a block of whole rows: a plain slice
                    target = dxpad[:, :, i0:i0 + th * m, j0:j0 + tw * m].reshape(chunk.shape)
                else:
                    target = as_strided(dxpad[:, :, i0:, j0:], chunk.shape,
                                        (sn, sc, m * sy, sy, m * sx, sx), writeable=True)
                target += chunk

"""Image grids for plots: the argument checks both backends' ``vision.image_grid`` share.

``scratch.vision.image_grid`` (NumPy) and ``torch_impl.vision.image_grid`` (``torchvision.utils.make_grid``)
lay a batch of images out the same way, so a bad argument reads the same in either backend:

- images ``(N, C, H, W)`` floating point, ``C`` 1 (greyscale) or 3 (RGB), ``N >= 1``;
- ``nrow`` images per row, ``ceil(N / nrow)`` rows; ``padding`` pixels of ``pad_value`` around and between
  the images, so the grid is ``(rows * (H + padding) + padding, min(nrow, N) * (W + padding) + padding)``;
  a single image comes back as it is, without padding (``make_grid``'s rule);
- ``normalize``: clamp to ``value_range`` (default: the batch's min and max) and map it to [0, 1], as
  ``(x - low) / max(high - low, 1e-5)`` in the images' dtype; the padding is not normalised.

The result is what ``matplotlib.pyplot.imshow`` takes: ``(H', W')`` for greyscale (so a colour map, ``vmin``,
``vmax`` and a colour bar apply), ``(H', W', 3)`` for RGB.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from dlfs.errors import check_array, check_positive_int


def check_grid_args(images: Any, nrow: Any, padding: Any, value_range: Sequence[float] | None
                    ) -> tuple[np.ndarray, int, int, tuple[float, float] | None]:
    """Validate ``image_grid``'s arguments.

    Returns
    -------
    images : np.ndarray
        (N, C, H, W), floating point, C in {1, 3}, N >= 1 (non-finite values are allowed: a diverged
        network's weights still plot).
    nrow, padding : int
        Images per row (>= 1) and the padding in pixels (>= 0).
    value_range : tuple[float, float] | None
        ``(low, high)`` with ``low < high``, or None.
    """
    arr = check_array("image_grid images", images, ndim=4, finite=False)
    if not np.issubdtype(arr.dtype, np.floating):
        raise TypeError(f"image_grid images: expected floating-point (N, C, H, W) images, got {arr.dtype} "
                        f"(convert with images.astype(np.float32), scaled as you want them shown)")
    if arr.shape[1] not in (1, 3) or arr.shape[0] == 0:
        raise ValueError(f"image_grid images: expected (N, C, H, W) with N >= 1 and C 1 (greyscale) or 3 (RGB), "
                         f"got shape {arr.shape}")
    nrow = check_positive_int("image_grid nrow", nrow)
    if isinstance(padding, bool) or not isinstance(padding, int | np.integer) or padding < 0:
        raise ValueError(f"image_grid padding: expected an int >= 0, got {padding!r}")
    if value_range is not None:
        low, high = (float(v) for v in value_range)
        if not low < high:
            raise ValueError(f"image_grid value_range: expected (low, high) with low < high, got {value_range!r}")
        value_range = (low, high)
    return arr, nrow, int(padding), value_range


def grid_for_imshow(grid_chw: np.ndarray, channels: int) -> np.ndarray:
    """(C', H', W') grid of images with ``channels`` channels -> (H', W') for greyscale (``make_grid`` repeats one
    channel three times: the first is taken), (H', W', 3) for RGB."""
    return grid_chw[0] if channels == 1 else np.ascontiguousarray(grid_chw.transpose(1, 2, 0))

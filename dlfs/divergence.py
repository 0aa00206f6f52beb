"""The divergence guard both Trainers share: a non-finite loss or non-finite weights, and a finite loss that has
grown by orders of magnitude (docs/robust_training.md). The errors name the epoch, the step and where the weights
and gradients went wrong, in the same words in both backends."""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np


class TrainingDiverged(FloatingPointError):
    """Training produced a non-finite loss or non-finite weights.

    The message (identical in both backends) names the epoch, the optimiser step (1-based, counted over the whole
    run) and the first state-dict key whose weights, and the first whose gradients, hold NaN or inf (or, when only
    the loss has overflowed, where the weights and gradients are largest). ``key`` is the first non-finite key,
    weights before gradients (a non-finite weight is the cause, its gradients the consequence); None when only the
    loss is non-finite.
    """

    def __init__(self, message: str, epoch: int, step: int, key: str | None) -> None:
        super().__init__(message)
        self.epoch, self.step, self.key = epoch, step, key


def first_nonfinite(state: Mapping[str, np.ndarray]) -> tuple[str, str] | None:
    """The first key (in network order) whose array holds NaN or inf, and a count of them; None if all finite."""
    for k, v in state.items():
        if not np.isfinite(v).all():
            return k, f"{int(np.isnan(v).sum())} NaN, {int(np.isinf(v).sum())} inf of {v.size}"
    return None


def diverged(epoch: int, step: int, loss: float | None, weights: Mapping[str, np.ndarray],
             grads: Mapping[str, np.ndarray]) -> TrainingDiverged:
    """The error both Trainers raise. ``loss`` is the non-finite loss of ``step``, or None when the loss was
    finite but the update after it was not (found at the end of an epoch). ``weights`` and ``grads`` are the
    network's canonical ``state_dict()`` and ``grad_dict()``; they are read only now, when training has failed."""
    bad_w, bad_g = first_nonfinite(weights), first_nonfinite(grads)
    what = f"the loss is {float(loss)}" if loss is not None else "the update made the weights non-finite"
    if bad_w or bad_g:
        where_w = f"{bad_w[0]!r} ({bad_w[1]})" if bad_w else "none"
        where_g = f"{bad_g[0]!r} ({bad_g[1]})" if bad_g else "none"
        where = f"first non-finite weights: {where_w}; first non-finite gradients: {where_g}"
    else:  # the loss overflowed first (a squared error of 1e155): say where the magnitudes have grown
        (kw, w), (kg, g) = _largest(weights), _largest(grads)
        where = (f"no weight or gradient is NaN or inf yet: largest |weight| {w:.1e} in {kw!r}, largest |gradient| "
                 f"{g:.1e} in {kg!r}")
    msg = (f"training diverged at epoch {epoch}, step {step}: {what}; {where} (lower the learning rate, or clip the "
           f"gradients with Adam/AdaGrad(clip_norm=...))")
    key = bad_w[0] if bad_w else (bad_g[0] if bad_g else None)
    return TrainingDiverged(msg, epoch, step, key)


# The growth rule, beside the non-finite one: a finite step loss that has grown by orders of magnitude is a run
# diverging (a learning rate of 1e30 trains on at losses of 1e30 otherwise). Both conditions must hold:
GROWTH_FACTOR = 1e4  # more than this many times the smallest step loss of the run so far, and
GROWTH_FLOOR = 10.0  # more than this many times the run's first step loss (a loss near 0 may rise a lot)


def growth_limit(first: float | None, smallest: float) -> float:
    """The step loss above which ``grown`` stops the run: ``max(GROWTH_FACTOR * smallest, GROWTH_FLOOR *
    first)``; infinite (no limit) before the first step and when a loss is negative (negative class weights),
    where ratios mean nothing."""
    if first is None or first <= 0 or smallest < 0:
        return math.inf
    return max(GROWTH_FACTOR * smallest, GROWTH_FLOOR * first)


def grown(epoch: int, step: int, loss: float, first: float, smallest: float, weights: Mapping[str, np.ndarray],
          grads: Mapping[str, np.ndarray]) -> TrainingDiverged:
    """The error both Trainers raise when step ``step``'s finite ``loss`` is above ``growth_limit(first,
    smallest)``; the same text in both backends (it names where the weights and gradients are largest)."""
    (kw, w), (kg, g) = _largest(weights), _largest(grads)
    msg = (f"training diverged at epoch {epoch}, step {step}: the loss {loss:.3g} is more than {GROWTH_FACTOR:g} "
           f"times the smallest step loss so far ({smallest:.3g}) and {GROWTH_FLOOR:g} times the first "
           f"({first:.3g}); largest |weight| {w:.1e} in {kw!r}, largest |gradient| {g:.1e} in {kg!r} (lower the "
           f"learning rate, or clip the gradients with Adam/AdaGrad(clip_norm=...))")
    return TrainingDiverged(msg, epoch, step, None)


def _largest(state: Mapping[str, np.ndarray]) -> tuple[str, float]:
    """The key whose array holds the largest magnitude, and that magnitude."""
    sizes = {k: float(np.abs(v).max()) if v.size else 0.0 for k, v in state.items()}
    k = max(sizes, key=sizes.__getitem__)
    return k, sizes[k]

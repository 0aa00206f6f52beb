"""Adaptive learning rates and gradient clipping (chapter 6's recurrent networks train with them).

Both optimisers follow PyTorch's formulation and defaults (``torch.optim.Adagrad``,
``torch.optim.Adam``), so the same gradients give the same updates in both backends. Every array is
updated in place (the layers hold it).

    AdaGrad:  s <- s + g^2;                      p <- p - lr g / (sqrt(s) + eps)
    Adam:     m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2   (m, v start at 0; t = 1, 2, ...)
              p <- p - (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)

Clipping happens before the update, on the gradients of all parameters together, as
``torch.nn.utils.clip_grad_value_`` and ``clip_grad_norm_`` do it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dlfs.errors import check_positive_float, check_probability
from scratch.optimizers import Optimizer

__all__ = ["clip_grad_value", "clip_grad_norm", "AdaGrad", "Adam"]


def _grads(net: Any) -> list[np.ndarray]:
    if not hasattr(net, "param_grads"):
        raise TypeError("net: expected a network or layer with parameters, "
                        f"got {type(net).__name__} {net!r:.60}")
    return net.param_grads()


def clip_grad_value(net: Any, clip_value: float) -> None:
    """Clamp every gradient of ``net`` (network or layer) to [-clip_value, clip_value], in place."""
    v = check_positive_float("clip_value", clip_value)
    for g in _grads(net):
        np.clip(g, -v, v, out=g)


def clip_grad_norm(net: Any, max_norm: float) -> float:
    """Scale all gradients of ``net`` by ``max_norm / (||g|| + 1e-6)`` when below 1; returns ||g||.

    ||g|| is the 2-norm of all gradients taken as one vector (sqrt of the sum of every squared
    entry); the 1e-6 is PyTorch's, keeping the division finite when every gradient is zero.
    """
    m = check_positive_float("max_norm", max_norm)
    grads = _grads(net)
    total = float(np.sqrt(sum(float(np.sum(g * g, dtype=np.float64)) for g in grads)))
    coef = m / (total + 1e-6)
    if coef < 1.0:
        for g in grads:
            g *= g.dtype.type(coef)
    return total


class _Clipping(Optimizer):
    """An optimiser that clips gradients (by value, then by norm, when asked) before each update."""

    def _set_clipping(self, clip_value: float | None, clip_norm: float | None) -> None:
        self.clip_value = (None if clip_value is None
                           else check_positive_float("clip_value", clip_value))
        self.clip_norm = None if clip_norm is None else check_positive_float("clip_norm", clip_norm)

    def step(self) -> None:
        if self.net is None:
            raise RuntimeError(f"{type(self).__name__}.step: call bind(net) first "
                               "(the Trainer does)")
        if self.clip_value is not None:
            clip_grad_value(self.net, self.clip_value)
        if self.clip_norm is not None:
            clip_grad_norm(self.net, self.clip_norm)
        self._begin_step()
        super().step()

    def _begin_step(self) -> None:
        """Called once per step before the per-parameter updates: counts the steps (Adam's t;
        PyTorch's per-parameter ``step``, which checkpoints carry)."""
        self.t += 1


class AdaGrad(_Clipping):
    """AdaGrad (Duchi et al. 2011) as ``torch.optim.Adagrad``: each parameter's step shrinks with
    the sum of its squared gradients.
    ``clip_value``/``clip_norm`` clip the gradients first (None: no clipping)."""

    buffer_names = {"sum": "sums"}

    def __init__(
        self,
        lr: float = 0.01,
        eps: float = 1e-10,
        initial_accumulator_value: float = 0.0,
        final_lr: float | None = None,
        decay_type: str | None = None,
        clip_value: float | None = None,
        clip_norm: float | None = None,
    ) -> None:
        super().__init__(lr, final_lr, decay_type)
        self.eps = check_positive_float("eps", eps)
        self.initial_accumulator_value = check_positive_float(
            "initial_accumulator_value", initial_accumulator_value, allow_zero=True)
        self._set_clipping(clip_value, clip_norm)
        self._reset_state()

    def _reset_state(self) -> None:
        self.sums: list[np.ndarray] = []
        self.t = 0

    def _update_rule(self, i: int, param: np.ndarray, grad: np.ndarray) -> None:
        if i == len(self.sums):  # first step: one accumulator per parameter, in the network's order
            self.sums.append(np.full_like(param, self.initial_accumulator_value))
        s = self.sums[i]
        s += grad * grad
        param -= self.lr * grad / (np.sqrt(s) + self.eps)


class Adam(_Clipping):
    """Adam (Kingma & Ba 2015) as ``torch.optim.Adam``: bias-corrected running means of the
    gradient (m) and of its square (v). ``betas`` = (b1, b2), each in [0, 1).
    ``clip_value``/``clip_norm`` as in ``AdaGrad``."""

    buffer_names = {"exp_avg": "m", "exp_avg_sq": "v"}

    def __init__(
        self,
        lr: float = 0.001,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        final_lr: float | None = None,
        decay_type: str | None = None,
        clip_value: float | None = None,
        clip_norm: float | None = None,
    ) -> None:
        super().__init__(lr, final_lr, decay_type)
        if len(betas) != 2:
            raise ValueError(f"betas: expected two numbers (beta1, beta2), got {betas!r}")
        self.betas = (check_probability("betas[0]", betas[0]),
                      check_probability("betas[1]", betas[1]))
        self.eps = check_positive_float("eps", eps)
        self._set_clipping(clip_value, clip_norm)
        self._reset_state()

    def _reset_state(self) -> None:
        self.m: list[np.ndarray] = []
        self.v: list[np.ndarray] = []
        self.t = 0

    def _update_rule(self, i: int, param: np.ndarray, grad: np.ndarray) -> None:
        if i == len(self.m):
            self.m.append(np.zeros_like(param))
            self.v.append(np.zeros_like(param))
        b1, b2 = self.betas
        m, v = self.m[i], self.v[i]
        m *= b1
        m += (1 - b1) * grad
        v *= b2
        v += (1 - b2) * grad * grad
        step_size = self.lr / (1 - b1 ** self.t)
        param -= step_size * m / (np.sqrt(v) / np.sqrt(1 - b2 ** self.t) + self.eps)

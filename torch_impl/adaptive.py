"""Adaptive learning rates and gradient clipping: ``torch.optim.Adagrad``, ``torch.optim.Adam`` and
``torch.nn.utils.clip_grad_value_`` / ``clip_grad_norm_`` behind the shared interface.

Clipping as an optimiser option is a step pre-hook on the ``torch.optim`` optimiser, so it also runs
when a training loop calls ``torch_optimizer.step()`` directly (as ``torch_impl.Trainer`` does).
"""

from __future__ import annotations

from typing import Any

import torch

from dlfs.errors import check_positive_float, check_probability
from torch_impl.optimizers import Optimizer

__all__ = ["clip_grad_value", "clip_grad_norm", "AdaGrad", "Adam"]


def _parameters(net: Any) -> list[torch.nn.Parameter]:
    if not hasattr(net, "module"):
        raise TypeError("net: expected a network or layer with parameters, "
                        f"got {type(net).__name__} {net!r:.60}")
    return list(net.module.parameters())


def clip_grad_value(net: Any, clip_value: float) -> None:
    """``clip_grad_value_``: clamp every gradient of ``net`` (a network or a layer) into
    [-clip_value, clip_value]."""
    torch.nn.utils.clip_grad_value_(_parameters(net),
                                    check_positive_float("clip_value", clip_value))


def clip_grad_norm(net: Any, max_norm: float) -> float:
    """``clip_grad_norm_``: scale all gradients of ``net`` by ``max_norm / (||g|| + 1e-6)`` when
    that is below 1; returns ||g||, the 2-norm of all gradients taken as one vector."""
    return float(torch.nn.utils.clip_grad_norm_(_parameters(net),
                                                check_positive_float("max_norm", max_norm)))


class _Clipping(Optimizer):
    """An optimiser that clips gradients (by value, then by norm, when asked) before each update."""

    def _set_clipping(self, clip_value: float | None, clip_norm: float | None) -> None:
        self.clip_value = (None if clip_value is None
                           else check_positive_float("clip_value", clip_value))
        self.clip_norm = None if clip_norm is None else check_positive_float("clip_norm", clip_norm)

    def _with_clipping(self, opt: torch.optim.Optimizer,
                       params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
        def clip(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
            if self.clip_value is not None:
                torch.nn.utils.clip_grad_value_(params, self.clip_value)
            if self.clip_norm is not None:
                torch.nn.utils.clip_grad_norm_(params, self.clip_norm)

        if self.clip_value is not None or self.clip_norm is not None:
            opt.register_step_pre_hook(clip)
        return opt


class AdaGrad(_Clipping):
    """``torch.optim.Adagrad``: each parameter's step shrinks with the sum of its squared gradients.
    ``clip_value``/``clip_norm`` clip the gradients first (None: no clipping)."""

    buffer_names = ("sum",)
    counts_steps = True

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

    def _make(self, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
        opt = torch.optim.Adagrad(params, lr=self.lr, eps=self.eps,
                                  initial_accumulator_value=self.initial_accumulator_value)
        return self._with_clipping(opt, params)


class Adam(_Clipping):
    """``torch.optim.Adam``: bias-corrected running means of the gradient and of its square.
    ``betas`` = (b1, b2), each in [0, 1). ``clip_value``/``clip_norm`` as in ``AdaGrad``."""

    buffer_names = ("exp_avg", "exp_avg_sq")
    counts_steps = True

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

    def _make(self, params: list[torch.nn.Parameter]) -> torch.optim.Optimizer:
        return self._with_clipping(
            torch.optim.Adam(params, lr=self.lr, betas=self.betas, eps=self.eps), params)

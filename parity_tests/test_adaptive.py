"""AdaGrad, Adam and gradient clipping: the scratch formulas against ``torch.optim.Adagrad``, ``torch.optim.Adam``,
``torch.nn.utils.clip_grad_value_`` and ``clip_grad_norm_`` over multi-step trajectories in float64."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import dlfs
from study.parity import check_trajectory, compare

S, T = dlfs.backend("scratch"), dlfs.backend("torch")
SHAPES = [(4, 3), (1, 3), (5,)]


class GradientFeed:
    """A stand-in network for the scratch optimisers: parameters and the gradients we hand them."""

    def __init__(self, params: list[np.ndarray]) -> None:
        self._params = params
        self._grads = [np.zeros_like(p) for p in params]

    def params(self) -> list[np.ndarray]:
        return self._params

    def param_grads(self) -> list[np.ndarray]:
        return self._grads


def _trajectory(scratch_opt, torch_opt_cls, torch_kwargs, steps=60, clip=None, seed=0):
    """Run both optimisers on the same parameters with the same random gradients; compare after every step."""
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s) for s in SHAPES]
    feed = GradientFeed([p.copy() for p in init])
    scratch_opt.bind(feed)
    tparams = [torch.tensor(p, requires_grad=True) for p in init]
    topt = torch_opt_cls(tparams, **torch_kwargs)
    worst = 0.0
    for _ in range(steps):
        grads = [rng.standard_normal(s) * rng.uniform(0.1, 3) for s in SHAPES]
        for g, sg, tp in zip(grads, feed.param_grads(), tparams):
            sg[...] = g
            tp.grad = torch.tensor(g)
        if clip == "value":
            torch.nn.utils.clip_grad_value_(tparams, 0.5)
        elif clip == "norm":
            torch.nn.utils.clip_grad_norm_(tparams, 1.5)
        scratch_opt.step()
        topt.step()
        for sp, tp in zip(feed.params(), tparams):
            worst = max(worst, compare("param", sp, tp, "trajectory", "float64").max_rel)
    moved = max(np.abs(a - b).max() for a, b in zip(feed.params(), init))
    assert moved > 0.01  # the optimiser did something (lr 1e-3 moves a parameter ~1e-3 per step)
    return worst


@pytest.mark.parametrize("kwargs", [{}, {"lr": 0.05, "betas": (0.8, 0.99), "eps": 1e-6}])
def test_adam_matches_torch_optim_adam(kwargs):
    worst = _trajectory(S.Adam(**kwargs), torch.optim.Adam, kwargs)
    assert worst < 1e-12


@pytest.mark.parametrize("kwargs", [{}, {"lr": 0.1, "eps": 1e-6, "initial_accumulator_value": 0.3}])
def test_adagrad_matches_torch_optim_adagrad(kwargs):
    worst = _trajectory(S.AdaGrad(**kwargs), torch.optim.Adagrad, kwargs)
    assert worst < 1e-12


def test_defaults_are_torchs():
    import inspect

    adam, adagrad = inspect.signature(S.Adam).parameters, inspect.signature(S.AdaGrad).parameters
    ref_adam = torch.optim.Adam([torch.zeros(1, requires_grad=True)]).defaults
    ref_adagrad = torch.optim.Adagrad([torch.zeros(1, requires_grad=True)]).defaults
    for name in ("lr", "betas", "eps"):
        assert adam[name].default == ref_adam[name], name
    for name in ("lr", "eps", "initial_accumulator_value"):
        assert adagrad[name].default == ref_adagrad[name], name


@pytest.mark.parametrize("opt", ["adam", "adagrad"])
@pytest.mark.parametrize("clip", ["value", "norm"])
def test_clipping_options_match_torch_utils(opt, clip):
    option = {"clip_value": 0.5} if clip == "value" else {"clip_norm": 1.5}
    scratch_opt = S.Adam(lr=0.01, **option) if opt == "adam" else S.AdaGrad(lr=0.05, **option)
    cls = torch.optim.Adam if opt == "adam" else torch.optim.Adagrad
    worst = _trajectory(scratch_opt, cls, {"lr": 0.01 if opt == "adam" else 0.05}, clip=clip)
    assert worst < 1e-12


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_clip_functions_match_torch_utils(dtype):
    rng = np.random.default_rng(1)
    for scale in (0.01, 10.0):  # clipping inactive, then active
        grads = [(rng.standard_normal(s) * scale).astype(dtype) for s in SHAPES]
        feed = GradientFeed([np.zeros_like(g) for g in grads])
        for g, sg in zip(grads, feed.param_grads()):
            sg[...] = g
        tensors = [torch.zeros(g.shape, dtype=getattr(torch, dtype), requires_grad=True) for g in grads]
        for t, g in zip(tensors, grads):
            t.grad = torch.tensor(g)
        norm_s = S.clip_grad_norm(feed, 2.0)
        norm_t = float(torch.nn.utils.clip_grad_norm_(tensors, 2.0))
        assert norm_s == pytest.approx(norm_t, rel=1e-6 if dtype == "float32" else 1e-13)
        for sg, t in zip(feed.param_grads(), tensors):
            compare("clip_grad_norm", sg, t.grad, dtype=dtype)
        total = np.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in feed.param_grads()))
        assert total == pytest.approx(min(norm_s, 2.0), rel=1e-5)
        S.clip_grad_value(feed, 0.05)
        torch.nn.utils.clip_grad_value_(tensors, 0.05)
        for sg, t in zip(feed.param_grads(), tensors):
            compare("clip_grad_value", sg, t.grad, dtype=dtype)
            assert np.abs(sg).max() <= 0.05


def test_clip_functions_on_networks_agree():
    x = np.random.default_rng(2).standard_normal((4, 6, 3))
    grads = []
    for B in (S, T):
        net = B.NeuralNetwork([B.LSTMLayer(5), B.RNNLinear(2)], B.MeanSquaredError(), seed=3, dtype="float64")
        out = net.forward(x)
        net.backward(np.ones_like(out) * 10)
        norm = B.clip_grad_norm(net, 1.0)
        B.clip_grad_value(net, 0.02)
        grads.append((norm, net.grad_dict()))
    assert grads[0][0] == pytest.approx(grads[1][0], rel=1e-12) and grads[0][0] > 1.0
    for k in grads[0][1]:
        compare(k, grads[1][1][k], grads[0][1][k], dtype="float64")


def _net(B):
    return B.NeuralNetwork([B.Dense(6, B.Tanh()), B.Dense(2)], B.MeanSquaredError(), dtype="float64")


@pytest.mark.parametrize("make", [
    lambda B: B.Adam(lr=0.02),
    lambda B: B.AdaGrad(lr=0.1),
    lambda B: B.Adam(lr=0.05, final_lr=0.005, decay_type="exponential", clip_norm=0.3),
    lambda B: B.AdaGrad(lr=0.2, final_lr=0.02, decay_type="linear", clip_value=0.05),
])
def test_trainer_trajectories_match(make):
    rng = np.random.default_rng(4)
    X, y = rng.standard_normal((40, 5)), rng.standard_normal((40, 2))
    report = check_trajectory("adaptive", _net, make, X, y, epochs=10, batch_size=4)  # 100 steps
    assert report.worst()[1] < 1e-10


def test_clipping_changes_the_trajectory():
    rng = np.random.default_rng(4)
    X, y = rng.standard_normal((40, 5)), rng.standard_normal((40, 2)) * 5
    nets = []
    for option in ({}, {"clip_norm": 0.1}):
        net = _net(S)
        net.forward(X[:1])
        S.Trainer(net, S.Adam(lr=0.05, **option)).fit(X, y, epochs=3, batch_size=4)
        nets.append(net.state_dict())
    assert max(np.abs(nets[0][k] - nets[1][k]).max() for k in nets[0]) > 1e-3


# --- bad input ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,match", [
    ({"clip_value": 0}, r"clip_value: expected a positive finite number, got 0"),
    ({"clip_norm": -1.0}, r"clip_norm: expected a positive finite number, got -1.0"),
    ({"betas": (0.9, 1.0)}, r"betas\[1\]: expected a value in \[0, 1\), got 1.0"),
    ({"betas": (0.9,)}, r"betas: expected two numbers \(beta1, beta2\), got \(0.9,\)"),
    ({"eps": 0.0}, r"eps: expected a positive finite number, got 0.0"),
    ({"lr": -0.1}, r"lr: expected a positive finite learning rate, got -0.1"),
])
def test_bad_adam_arguments(B, kwargs, match):
    with pytest.raises(ValueError, match=match):
        B.Adam(**kwargs)


def test_bad_adagrad_and_clip_arguments(B):
    with pytest.raises(ValueError, match=r"initial_accumulator_value: expected a finite number >= 0, got -1"):
        B.AdaGrad(initial_accumulator_value=-1)
    net = B.NeuralNetwork([B.Dense(2)], B.MeanSquaredError())
    net.forward(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="max_norm: expected a positive finite number, got 0"):
        B.clip_grad_norm(net, 0)
    with pytest.raises(ValueError, match="clip_value: expected a positive finite number, got -2"):
        B.clip_grad_value(net, -2)

"""Weight initialisation (chapter 4), tested by distribution: Kolmogorov-Smirnov tests of both backends' drawn
Dense weights against the formula (``standard``: N(0, 1); ``glorot``: N(0, 2 / (fan_in + fan_out))) and, two-sample,
against ``torch.nn.init.xavier_normal_``. Seeds are fixed, so every p-value below is a fixed number; the same tests
reject a wrong variance, so they can fail."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import stats

import dlfs
from dlfs.init import init_scale

FAN_IN, FAN_OUT = 300, 200  # 60,000 draws: a 5% error in the standard deviation is a KS statistic of ~0.02


def _weights(backend: str, weight_init: str, seed: int = 20190119) -> np.ndarray:
    B = dlfs.backend(backend)
    net = B.NeuralNetwork([B.Dense(FAN_OUT, B.Tanh(), weight_init=weight_init)], B.MeanSquaredError(), seed=seed,
                          dtype="float64")
    net.forward(np.zeros((1, FAN_IN)))
    return net.state_dict()["layers.0.W"]


@pytest.fixture(scope="module")
def draws():
    return {(b, w): _weights(b, w) for b in dlfs.BACKENDS for w in ("standard", "glorot")}


def test_same_seed_same_draws_in_both_backends(draws):
    for w in ("standard", "glorot"):
        np.testing.assert_array_equal(draws["scratch", w], draws["torch", w])
        assert draws["scratch", w].shape == (FAN_IN, FAN_OUT)


@pytest.mark.parametrize("backend", dlfs.BACKENDS)
@pytest.mark.parametrize("weight_init", ["standard", "glorot"])
def test_ks_against_the_formula(draws, backend, weight_init):
    std = 1.0 if weight_init == "standard" else np.sqrt(2.0 / (FAN_IN + FAN_OUT))
    assert init_scale(weight_init, FAN_IN, FAN_OUT) == pytest.approx(std, rel=1e-15)
    w = draws[backend, weight_init].ravel()
    assert stats.kstest(w, "norm", args=(0.0, std)).pvalue > 0.01
    # the test can fail: 10% too narrow or too wide, or LeCun's 1/fan_in (std 0.0577 vs Glorot's 0.0632), or
    # the book's N(0, 1) where Glorot was asked for, are rejected outright
    for wrong in (0.9 * std, 1.1 * std, np.sqrt(1.0 / FAN_IN) if weight_init == "glorot" else 0.5):
        assert stats.kstest(w, "norm", args=(0.0, wrong)).pvalue < 1e-6, wrong


@pytest.mark.parametrize("backend", dlfs.BACKENDS)
def test_glorot_two_sample_ks_against_xavier_normal(draws, backend):
    torch.manual_seed(0)
    ref = torch.nn.init.xavier_normal_(torch.empty(FAN_OUT, FAN_IN, dtype=torch.float64)).numpy().ravel()
    ours = draws[backend, "glorot"].ravel()
    assert stats.ks_2samp(ours, ref).pvalue > 0.01
    torch.manual_seed(0)
    too_wide = torch.nn.init.xavier_normal_(torch.empty(FAN_OUT, FAN_IN, dtype=torch.float64), gain=1.1)
    assert stats.ks_2samp(ours, too_wide.numpy().ravel()).pvalue < 1e-6
    # and torch's own fan convention for the weight (out, in) is the one init_scale uses
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(FAN_OUT, FAN_IN))
    assert (fan_in, fan_out) == (FAN_IN, FAN_OUT)


def test_glorot_keeps_tanh_out_of_saturation():
    """Why Glorot (the book's figure): with N(0, 1) weights a 300-wide tanh layer's pre-activations have std ~17
    and ~88% of units sit beyond +-0.99; Glorot's keep std ~1, where tanh is still steep."""
    x = np.random.default_rng(0).standard_normal((500, FAN_IN))
    S = dlfs.backend("scratch")
    sat = {}
    for w in ("standard", "glorot"):
        layer = S.Dense(FAN_OUT, S.Tanh(), weight_init=w)
        layer.rng = np.random.default_rng(1)
        sat[w] = float(np.mean(np.abs(layer.forward(x, training=False)) > 0.99))
    assert sat["standard"] > 0.85 and sat["glorot"] < 0.05, sat

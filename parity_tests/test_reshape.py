"""Flatten and Reshape in both backends: outputs, gradients (a reshape back), inside networks, bad input."""

from __future__ import annotations

import numpy as np
import pytest

import dlfs
from study.parity import check_finite_differences, check_layer_parity

S, T = dlfs.backend("scratch"), dlfs.backend("torch")

CASES = {
    "flatten_4d": (lambda B: B.Flatten(), (3, 2, 4, 5)),
    "flatten_batch1_3d": (lambda B: B.Flatten(), (1, 6, 7)),
    "reshape_to_maps": (lambda B: B.Reshape((3, 2, 4)), (2, 24)),
    "reshape_maps_to_maps": (lambda B: B.Reshape((4, 6)), (1, 2, 3, 4)),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_reshape_parity(case, dtype):
    build, shape = CASES[case]
    report = check_layer_parity(case, build, shape, dtype)
    assert report.worst()[0] == 0.0  # a reshape moves numbers, it never changes them


@pytest.mark.parametrize("case", sorted(CASES))
def test_reshape_finite_differences(case):
    build, shape = CASES[case]
    check_finite_differences(case, build, shape)


def test_shapes():
    x = np.zeros((2, 3, 4, 5))
    assert S.Flatten().forward(x).shape == (2, 60)
    assert S.Reshape((5, 12)).forward(x).shape == (2, 5, 12)
    assert T.Reshape(60).forward(x).shape == (2, 60)


def test_decoder_network():
    """The autoencoder decoder's pattern: Dense -> Reshape to feature maps -> Conv2D -> Flatten -> Dense."""
    def build(B):
        return B.NeuralNetwork([B.Dense(48, "tanh"), B.Reshape((3, 4, 4)), B.Conv2D(2, 3, activation="tanh"),
                                B.Flatten(), B.Dense(5)], B.SoftmaxCrossEntropy(), dtype="float64")
    check_layer_parity("decoder network", build, (3, 7))
    check_finite_differences("decoder network", build, (2, 7))


def test_reshape_size_mismatch(B):
    with pytest.raises(ValueError, match=r"Reshape\(\(3, 5\)\): cannot reshape samples of shape \(4, 4\) \(16 "
                                         r"values\) to \(3, 5\) \(15 values\)"):
        B.Reshape((3, 5)).forward(np.zeros((2, 4, 4)))


def test_flatten_needs_a_batch_axis(B):
    with pytest.raises(ValueError, match=r"Flatten\(\): expected an input with a batch axis and at least one more, "
                                         r"got 1-D shape \(5,\)"):
        B.Flatten().forward(np.zeros(5))


def test_bad_reshape_target(B):
    with pytest.raises(ValueError, match=r"Reshape shape\[1\]: expected a positive int \(>= 1\), got 0"):
        B.Reshape((3, 0))
    with pytest.raises(TypeError, match=r"Reshape shape\[0\]: expected a positive int, got float 2.5"):
        B.Reshape((2.5,))
    with pytest.raises(ValueError, match=r"Reshape shape: expected at least one dimension, got \(\)"):
        B.Reshape(())

"""Parity of max and average pooling against ``nn.MaxPool2d``/``nn.AvgPool2d``: outputs, input gradients,
ties in max pooling, overlapping windows, finite differences and bad input."""

from __future__ import annotations

import numpy as np
import pytest

import dlfs
from study.parity import check_finite_differences, check_layer_parity, compare

S, T = dlfs.backend("scratch"), dlfs.backend("torch")

# name -> (builder, input shape (N, C, H, W))
CASES = {
    "max2": (lambda B: B.MaxPool2D(2), (3, 2, 6, 5)),  # 5 columns: the last one is dropped, as PyTorch
    "max3_stride2_overlap": (lambda B: B.MaxPool2D(3, stride=2), (1, 3, 7, 8)),
    "max_rect_stride_1x2": (lambda B: B.MaxPool2D((2, 3), stride=(1, 2)), (2, 2, 5, 9)),
    "avg2": (lambda B: B.AvgPool2D(2), (1, 2, 6, 4)),
    "avg_rect_overlap": (lambda B: B.AvgPool2D((3, 2), stride=1), (3, 2, 5, 6)),
}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_pooling_parity(case, dtype):
    build, shape = CASES[case]
    report = check_layer_parity(f"pooling {case}", build, shape, dtype)
    assert [c.name for c in report.comparisons] == ["output", "input_grad"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_pooling_finite_differences(case):
    build, shape = CASES[case]
    check_finite_differences(f"pooling {case}", build, shape)  # random inputs: no ties, max is differentiable


@pytest.mark.parametrize("stride", [None, 1])
def test_max_pool_ties_go_to_the_first_maximum(stride):
    """Windows full of tied values: the gradient goes to the first maximum (row-major) in both backends."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 2, size=(2, 3, 6, 6)).astype("float64")  # 0/1: almost every window has ties
    x[0, 0] = 1.0  # a plane where every window is all ties
    report = check_layer_parity("MaxPool2D ties", lambda B: B.MaxPool2D(2, stride), x.shape, x=x)
    # routed to the same pixels: exact, up to the order of the adds where windows overlap (a gradient sent to
    # a different tied pixel would be an O(1) error)
    assert report.worst()[0] < 1e-14
    layer = S.MaxPool2D(2, stride)
    out = layer.forward(x)
    dx = layer.backward(np.ones_like(out))
    if stride is None:  # non-overlapping all-ties windows: the top-left pixel of each takes the whole gradient
        np.testing.assert_array_equal(dx[0, 0], np.tile([[1, 0], [0, 0]], (3, 3)))


def test_pooling_in_a_network():
    """Conv -> MaxPool -> Flatten -> Dense -> softmax cross-entropy, forward and backward through a network."""
    def build(B):
        return B.NeuralNetwork([B.Conv2D(3, 3, activation="relu"), B.MaxPool2D(2), B.AvgPool2D(1), B.Flatten(),
                                B.Dense(4)], B.SoftmaxCrossEntropy(), dtype="float64")
    check_layer_parity("conv-pool network", build, (2, 2, 6, 8))


def test_state_is_empty(B):
    assert B.MaxPool2D(2).state_dict() == {} and B.AvgPool2D(2).grad_dict() == {}
    B.AvgPool2D(2).load_state_dict({})


# --- bad input ------------------------------------------------------------------------------------------------
def test_window_does_not_fit(B):
    with pytest.raises(ValueError, match=r"MaxPool2D\(3\): the 3x3 window does not fit in the 2x4 input"):
        B.MaxPool2D(3).forward(np.zeros((1, 1, 2, 4)))
    with pytest.raises(ValueError, match=r"AvgPool2D\(\(2, 5\)\): the 2x5 window does not fit in the 4x4 input"):
        B.AvgPool2D((2, 5)).forward(np.zeros((1, 1, 4, 4)))


def test_pooling_input_not_3d_or_4d(B):
    with pytest.raises(ValueError, match=r"MaxPool2D\(2\): expected a 3-D \(channels, height, width\) or 4-D "
                                         r"\(batch, channels, height, width\) input, got 2-D shape \(4, 4\) "
                                         r"\(add the channel axis"):
        B.MaxPool2D(2).forward(np.zeros((4, 4)))


def test_bad_pooling_arguments(B):
    with pytest.raises(ValueError, match=r"MaxPool2D stride: expected a positive int \(>= 1\), got 0"):
        B.MaxPool2D(2, stride=0)
    with pytest.raises(ValueError, match=r"AvgPool2D kernel_size: expected a positive int \(>= 1\), got -2"):
        B.AvgPool2D(-2)
    with pytest.raises(ValueError, match=r"MaxPool2D kernel_size: expected an int or a pair \(height, width\), "
                                         r"got 3 values"):
        B.MaxPool2D((2, 2, 2))
    with pytest.raises(TypeError, match=r"MaxPool2D kernel_size: expected a positive int, got float 2.0"):
        B.MaxPool2D(2.0)


def test_kernel_keyword_is_pytorchs(B):
    """The first argument is PyTorch's ``kernel_size``; positional calls are unchanged."""
    x = np.random.default_rng(0).standard_normal((1, 2, 6, 6))
    compare("kernel_size=", B.MaxPool2D(kernel_size=3, stride=2).forward(x), B.MaxPool2D(3, 2).forward(x))
    with pytest.raises(TypeError):
        B.AvgPool2D(kernel=2)


def test_pooling_output_values():
    """A hand-checked example: the max and the mean of each 2x2 block."""
    x = np.arange(16, dtype="float64").reshape(1, 1, 4, 4)
    compare("max", S.MaxPool2D(2).forward(x), np.array([[[[5.0, 7.0], [13.0, 15.0]]]]))
    compare("avg", S.AvgPool2D(2).forward(x), np.array([[[[2.5, 4.5], [10.5, 12.5]]]]))

"""Bad input to the dense stack gets a clear error naming the argument, what was expected and what came."""

from __future__ import annotations

import numpy as np
import pytest


def _fit(B, X, y, **kw):
    net = B.NeuralNetwork([B.Dense(4, B.Tanh()), B.Dense(1)], B.MeanSquaredError(), dtype="float64")
    args = dict(epochs=1, eval_every=1, batch_size=4)
    args.update(kw)
    return B.Trainer(net, B.SGD(0.01)).fit(X, y, **args)


X = np.random.default_rng(0).standard_normal((10, 3))
Y = np.random.default_rng(1).standard_normal((10, 1))


def test_wrong_input_width(B):
    net = B.NeuralNetwork([B.Dense(4), B.Dense(1)], B.MeanSquaredError())
    net.forward(X)
    with pytest.raises(ValueError, match=r"Dense\(4\): expected input width 3 \(the width it was built for\), got 5"):
        net.forward(np.zeros((2, 5)))


def test_one_d_input_where_two_d_expected(B):
    with pytest.raises(ValueError, match=r"Dense\(4\): expected a 2-D \(batch, features\) input, got 1-D shape \(3,\)"):
        B.Dense(4).forward(np.zeros(3))
    with pytest.raises(ValueError, match=r"X_train: expected a 2-D .* got 1-D shape \(10,\)"):
        _fit(B, X[:, 0], Y)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_in_X(B, bad):
    Xb = X.copy()
    Xb[2, 1] = bad
    with pytest.raises(ValueError, match="X_train: expected finite values, got"):
        _fit(B, Xb, Y)
    net = B.NeuralNetwork([B.Dense(2)], B.MeanSquaredError())
    with pytest.raises(ValueError, match="x_batch: expected finite values"):
        net.forward(Xb)


def test_nan_in_y(B):
    Yb = Y.copy()
    Yb[0, 0] = np.nan
    with pytest.raises(ValueError, match="y_train: expected finite values, got 1 NaN and 0 inf"):
        _fit(B, X, Yb)


def test_mismatched_lengths(B):
    with pytest.raises(ValueError, match="X_train and y_train must have the same number of samples, got 10 and 9"):
        _fit(B, X, Y[:9])


def test_unknown_activation(B):
    with pytest.raises(ValueError, match=r"activation: expected one of \['sigmoid', 'tanh', 'relu', 'linear'\], "
                                         r"got 'tanhh'; did you mean 'tanh'\?"):
        B.Dense(3, activation="tanhh")
    with pytest.raises(TypeError, match="activation: expected an activation"):
        B.Dense(3, activation=42)


@pytest.mark.parametrize("bs", [0, -3])
def test_batch_size_not_positive(B, bs):
    with pytest.raises(ValueError, match=f"batch_size: expected a positive int \\(>= 1\\), got {bs}"):
        _fit(B, X, Y, batch_size=bs)


def test_batch_size_larger_than_data(B):
    with pytest.raises(ValueError, match=r"batch_size: expected at most 10 \(number of training samples\), got 11"):
        _fit(B, X, Y, batch_size=11)


def test_target_shape_mismatch_hints_reshape(B):
    with pytest.raises(ValueError, match=r"target shape \(\d+,\) must equal prediction shape \(\d+, 1\).*reshape"):
        _fit(B, X, Y[:, 0])


def test_other_arguments(B):
    with pytest.raises(ValueError, match="neurons: expected a positive int"):
        B.Dense(0)
    with pytest.raises(ValueError, match="weight_init: expected one of"):
        B.Dense(3, weight_init="he")
    with pytest.raises(ValueError, match="dtype: expected one of"):
        B.NeuralNetwork([B.Dense(1)], B.MeanSquaredError(), dtype="float16")
    with pytest.raises(ValueError, match="lr: expected a positive finite learning rate, got -1"):
        B.SGD(lr=-1)
    with pytest.raises(ValueError, match="layers: expected at least one layer"):
        B.NeuralNetwork([], B.MeanSquaredError())
    with pytest.raises(ValueError, match="epochs: expected a positive int"):
        _fit(B, X, Y, epochs=0)


def test_trainer_arguments(B):
    net = B.NeuralNetwork([B.Dense(1)], B.MeanSquaredError(), dtype="float64")
    with pytest.raises(TypeError, match="Trainer: optim: expected an optimiser such as SGD.*got builtins.str"):
        B.Trainer(net, "sgd")
    with pytest.raises(TypeError, match="Trainer: net: expected a NeuralNetwork of the .* backend"):
        B.Trainer("net", B.SGD(0.01))
    other = "torch" if B.__name__ == "scratch" else "scratch"
    import dlfs

    with pytest.raises(TypeError, match="build the network and the optimiser from the same backend"):
        B.Trainer(net, dlfs.backend(other).SGD(0.01))


@pytest.mark.parametrize("kw,err,msg", [
    (dict(seed=-1), ValueError, "seed: expected a non-negative int seed, got -1"),
    (dict(seed="a"), TypeError, "seed: expected a non-negative int seed, got str"),
    (dict(early_stopping="no"), TypeError, "early_stopping: expected True or False, got str 'no'"),
    (dict(progress="yes"), TypeError, "progress: expected True or False"),
    (dict(log_grad_norm=1), TypeError, "log_grad_norm: expected True or False"),
])
def test_fit_options(B, kw, err, msg):
    with pytest.raises(err, match=msg):
        _fit(B, X, Y, **kw)


def test_fit_on_no_samples(B):
    with pytest.raises(ValueError, match=r"X_train: expected at least one sample, got 0 rows"):
        _fit(B, X[:0], Y[:0])


def test_checkpoint_dir_that_is_a_file(B, tmp_path):
    f = tmp_path / "a_file"
    f.write_text("")
    with pytest.raises(ValueError, match="checkpoint_dir: .* exists and is not a directory"):
        _fit(B, X, Y, checkpoint_dir=f)


def test_clipping_a_non_network(B):
    with pytest.raises(TypeError, match="net: expected a network or layer with parameters"):
        B.clip_grad_norm("net", 1.0)
    with pytest.raises(TypeError, match="net: expected a network or layer with parameters"):
        B.clip_grad_value("net", 1.0)

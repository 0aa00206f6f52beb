"""SGD with momentum (chapter 4) in PyTorch's form, ``v = mu v + g; p -= lr v``, in both backends: multi-step
trajectory parity with ``torch.optim.SGD(momentum=...)``, the update written out, and where the book's
``v = mu v + lr g; p -= v`` agrees (constant lr) and where it does not (decay)."""

from __future__ import annotations

import numpy as np
import pytest

import dlfs
from study.parity import check_trajectory, compare

S, T = dlfs.backend("scratch"), dlfs.backend("torch")
rng = np.random.default_rng(21)
X = rng.standard_normal((100, 6))
Y = np.tanh(X @ rng.standard_normal((6, 2))) + 0.1 * rng.standard_normal((100, 2))


def _net(B, dtype="float64"):
    return B.NeuralNetwork([B.Dense(5, B.Tanh()), B.Dense(2, B.Linear())], B.MeanSquaredError(), seed=4,
                           dtype=dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_trajectory_100_momentum_steps(dtype):
    """Same weights, same batches: 10 epochs x 10 batches of SGDMomentum(0.05, 0.9) agree (float64 rtol 1e-7)."""
    report = check_trajectory("sgd_momentum", lambda B: _net(B, dtype), lambda B: B.SGDMomentum(0.05, 0.9),
                              X, Y, epochs=10, batch_size=10, dtype=dtype)
    assert len(report.comparisons) == 4


class _Params:
    """A stand-in network for the update rule: fixed parameters and a gradient per step."""

    def __init__(self, params):
        self._params, self.grads = params, [np.zeros_like(p) for p in params]

    def params(self):
        return self._params

    def param_grads(self):
        return self.grads


def test_update_rule_written_out():
    p0 = [np.array([1.0, -2.0]), np.array([[0.5]])]
    net = _Params([p.copy() for p in p0])
    opt = S.SGDMomentum(lr=0.1, momentum=0.9)
    opt.bind(net)
    grads = [[np.array([0.3, 0.1]), np.array([[1.0]])], [np.array([-0.2, 0.4]), np.array([[0.5]])],
             [np.array([0.0, -1.0]), np.array([[-2.0]])]]
    expected, v = [p.copy() for p in p0], [np.zeros_like(p) for p in p0]
    for g in grads:
        net.grads = g
        opt.step()
        for i in range(2):
            v[i] = 0.9 * v[i] + g[i]
            expected[i] = expected[i] - 0.1 * v[i]
    for got, want in zip(net.params(), expected):
        np.testing.assert_allclose(got, want, rtol=1e-15)
    # the first step is plain SGD: v starts at zero, as torch.optim.SGD's buffer starts at the first gradient
    net = _Params([p.copy() for p in p0])
    opt.bind(net)
    net.grads = grads[0]
    opt.step()
    np.testing.assert_array_equal(net.params()[0], p0[0] - 0.1 * grads[0][0])


def test_zero_momentum_is_plain_sgd():
    a, b = _net(S), _net(S)
    S.Trainer(a, S.SGDMomentum(0.05, momentum=0.0)).fit(X, Y, epochs=2, batch_size=10)
    S.Trainer(b, S.SGD(0.05)).fit(X, Y, epochs=2, batch_size=10)
    for k, v in a.state_dict().items():
        np.testing.assert_array_equal(v, b.state_dict()[k])


class BookMomentum(S.SGDMomentum):
    """The book's update: the learning rate inside the velocity, ``v = mu v + lr g; p -= v``."""

    def _update_rule(self, i, param, grad):
        if i == len(self.velocities):
            self.velocities.append(np.zeros_like(param))
        v = self.velocities[i]
        v *= self.momentum
        v += self.lr * grad
        param -= v


def _train(opt, epochs=6):
    net = _net(S)
    S.Trainer(net, opt).fit(X, Y, epochs=epochs, batch_size=10)
    return net.state_dict()


def test_book_form_agrees_while_lr_is_constant():
    ours, book = _train(S.SGDMomentum(0.05, 0.9)), _train(BookMomentum(0.05, 0.9))
    for k in ours:  # the book's v is lr times ours: the same parameters up to rounding
        compare(f"param:{k}", book[k], ours[k], "trajectory", "float64")


@pytest.mark.parametrize("decay_type", ["linear", "exponential"])
def test_book_form_diverges_under_decay(decay_type):
    ours = _train(S.SGDMomentum(0.2, 0.9, final_lr=0.01, decay_type=decay_type))
    book = _train(BookMomentum(0.2, 0.9, final_lr=0.01, decay_type=decay_type))
    rel = max(np.abs(book[k] - ours[k]).max() / np.abs(ours[k]).max() for k in ours)
    # after the lr drops, the book's velocity still carries past gradients at their old, larger lr, ours rescales
    # the whole velocity by today's lr: the parameters part ways by far more than any rounding (>= 1e-3)
    assert rel > 1e-3, rel
    with pytest.raises(AssertionError, match="values differ"):
        compare("param", book["layers.0.W"], ours["layers.0.W"], "trajectory", "float64")


@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, float("nan")])
def test_momentum_outside_zero_one(B, bad):
    with pytest.raises(ValueError, match=rf"SGDMomentum momentum: expected a value in \[0, 1\), got {bad}"):
        B.SGDMomentum(0.1, momentum=bad)


def test_momentum_not_a_number(B):
    with pytest.raises(TypeError, match="SGDMomentum momentum: expected a number, got str"):
        B.SGDMomentum(0.1, momentum="0.9x")

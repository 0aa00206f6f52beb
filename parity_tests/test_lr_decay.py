"""Per-epoch learning-rate decay (chapter 4): scratch's closed form against ``torch.optim.lr_scheduler``
(``LinearLR``, ``ExponentialLR``): the lr of every epoch (``History.lr``), exactly ``lr`` first and exactly
``final_lr`` last in both, a full decayed trajectory, and the bad arguments."""

from __future__ import annotations

import numpy as np
import pytest

import dlfs
from dlfs.training import lr_schedule
from study.parity import check_trajectory, compare

S, T = dlfs.backend("scratch"), dlfs.backend("torch")
rng = np.random.default_rng(31)
X = rng.standard_normal((40, 4))
Y = rng.standard_normal((40, 1))


def _lrs(B, opt_args, epochs):
    net = B.NeuralNetwork([B.Dense(3, B.Tanh()), B.Dense(1)], B.MeanSquaredError(), dtype="float64")
    opt = B.SGDMomentum(**opt_args) if "momentum" in opt_args else B.SGD(**opt_args)
    hist = B.Trainer(net, opt).fit(X, Y, epochs=epochs, batch_size=20)
    return np.array(hist.lr), opt


CASES = [dict(lr=0.15, final_lr=0.05, decay_type="linear"), dict(lr=0.2, final_lr=0.05, decay_type="exponential"),
         dict(lr=0.1, final_lr=0.001, decay_type="exponential", momentum=0.9),
         dict(lr=0.3, final_lr=0.3, decay_type="linear", momentum=0.5)]


@pytest.mark.parametrize("epochs", [2, 7, 50])
@pytest.mark.parametrize("case", range(len(CASES)))
def test_lr_sequences_agree(case, epochs):
    args = CASES[case]
    lr_s, opt_s = _lrs(S, args, epochs)
    lr_t, opt_t = _lrs(T, args, epochs)
    c = compare("History.lr", lr_t, lr_s, dtype="float64")
    assert c.max_rel < 1e-14  # PyTorch's multiplicative updates drift from the closed form by a few ulps only
    np.testing.assert_array_equal(lr_s, lr_schedule(args["lr"], args["final_lr"], args["decay_type"], epochs))
    for lrs in (lr_s, lr_t):
        assert len(lrs) == epochs
        assert lrs[0] == args["lr"] and lrs[-1] == args["final_lr"]  # exactly, in both backends
        assert np.all(np.diff(lrs) <= 0)
    # after training, neither optimiser has decayed past final_lr (ExponentialLR would, if stepped again)
    assert opt_s.lr == opt_t.lr == args["final_lr"]
    assert opt_t.torch_optimizer.param_groups[0]["lr"] == args["final_lr"]


def test_schedule_shapes():
    lin = lr_schedule(0.15, 0.05, "linear", 11)
    np.testing.assert_allclose(np.diff(lin), -0.01, rtol=1e-12)  # equal steps
    exp = lr_schedule(0.2, 0.05, "exponential", 11)
    np.testing.assert_allclose(exp[1:] / exp[:-1], 0.25 ** 0.1, rtol=1e-12)  # a constant ratio
    np.testing.assert_array_equal(lr_schedule(0.1, None, None, 3), [0.1, 0.1, 0.1])
    np.testing.assert_array_equal(lr_schedule(0.1, 0.01, "linear", 1), [0.1])  # one epoch: lr, not final_lr


@pytest.mark.parametrize("decay_type", ["linear", "exponential"])
def test_decayed_trajectory_parity(decay_type):
    """10 epochs x 10 batches of SGDMomentum with decay: same parameters in both backends (float64)."""
    Xb = rng.standard_normal((100, 7))
    Yb = np.sin(Xb[:, :2])
    report = check_trajectory(
        f"sgd_momentum_{decay_type}_decay",
        lambda B: B.NeuralNetwork([B.Dense(6, B.Sigmoid()), B.Dense(2)], B.MeanSquaredError(), dtype="float64"),
        lambda B: B.SGDMomentum(0.2, 0.9, final_lr=0.02, decay_type=decay_type), Xb, Yb, epochs=10, batch_size=10)
    assert len(report.comparisons) == 4


def test_refit_restarts_the_schedule_and_momentum():
    """A second ``fit`` starts the schedule at lr again with fresh momentum, in both backends alike."""
    states, lrs = [], []
    for B in (S, T):
        net = B.NeuralNetwork([B.Dense(3, B.Tanh()), B.Dense(1)], B.MeanSquaredError(), dtype="float64")
        trainer = B.Trainer(net, B.SGDMomentum(0.1, 0.9, final_lr=0.01, decay_type="linear"))
        trainer.fit(X, Y, epochs=3, batch_size=10)
        lrs.append(trainer.fit(X, Y, epochs=4, batch_size=10).lr)
        states.append(net.state_dict())
    assert lrs[0][0] == lrs[1][0] == 0.1 and lrs[0][-1] == lrs[1][-1] == 0.01
    for k in states[0]:
        compare(f"param:{k}", states[1][k], states[0][k], "trajectory", "float64")


# --- bad input -------------------------------------------------------------------------------------------------
def test_final_lr_above_lr(B):
    for make in (lambda: B.SGD(0.1, final_lr=0.2, decay_type="linear"),
                 lambda: B.SGDMomentum(0.1, 0.9, final_lr=0.5, decay_type="exponential")):
        with pytest.raises(ValueError, match=r"final_lr: expected 0 < final_lr <= lr=0.1 for decay_type='\w+' "
                                             r"\(decay lowers the learning rate from lr to final_lr\), got 0.[25]"):
            make()
    with pytest.raises(ValueError, match="final_lr: expected 0 < final_lr"):
        B.SGD(0.1, final_lr=0.0, decay_type="exponential")


def test_unknown_decay_type(B):
    with pytest.raises(ValueError, match=r"decay_type: expected one of \['linear', 'exponential'\], got 'cosine'$"):
        B.SGDMomentum(0.1, final_lr=0.01, decay_type="cosine")
    with pytest.raises(ValueError, match=r"got 'linaer'; did you mean 'linear'\?"):
        B.SGD(0.1, final_lr=0.01, decay_type="linaer")


def test_decay_arguments_that_need_each_other(B):
    with pytest.raises(ValueError, match=r"final_lr=0.01 needs a decay_type, one of \['linear', 'exponential'\]"):
        B.SGD(0.1, final_lr=0.01)
    with pytest.raises(ValueError, match="decay_type='linear' needs final_lr"):
        B.SGDMomentum(0.1, decay_type="linear")
    with pytest.raises(TypeError, match="final_lr: expected a number, got str"):
        B.SGD(0.1, final_lr="0.01", decay_type="linear")

"""The chapter 7 convolutional autoencoder in both backends: the whole model's forward, input gradient and every
parameter gradient, finite differences, 20-step trajectories, the encoder and decoder halves, MSE on image-shaped
outputs, bad input, and the experiment (``experiments/autoencoder.py``) run tiny."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import dlfs
from experiments import autoencoder as experiment
from study.parity import build_pair, check_finite_differences, check_layer_parity, check_trajectory, compare

S, T = dlfs.backend("scratch"), dlfs.backend("torch")
SCALE = 0.1  # random weights of this size keep the tanh layers out of saturation, where gradients would vanish
N_PARAMS = 12  # W and B of four Conv2D and two Dense layers


def _builder(image_size, encoding_dim, dtype):
    return lambda B: B.Autoencoder(image_size, encoding_dim=encoding_dim, seed=5, dtype=dtype)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("image_size", [8, 28])
def test_autoencoder_parity_at_dataset_sizes(image_size, dtype):
    """The book's model (28-number encoding) on digits' 8x8 and MNIST's 28x28 images."""
    report = check_layer_parity(f"autoencoder {image_size}x{image_size}", _builder(image_size, 28, dtype),
                                (2, 1, image_size, image_size), dtype, scale=SCALE)
    shapes = {c.name: c.shape for c in report.comparisons}
    assert shapes["grad:layers.2.W"] == (7 * image_size**2, 28) and shapes["grad:layers.3.W"] == (28, 7 * image_size**2)
    if dtype == "float64":
        assert report.worst()[1] < 1e-9


def test_autoencoder_finite_differences():
    """The scratch model's analytic backward against centred differences, every input pixel and parameter."""
    report = check_finite_differences("autoencoder", _builder((5, 6), 3, "float64"), (1, 1, 5, 6), scale=SCALE)
    assert len(report.comparisons) == 1 + N_PARAMS


@pytest.mark.parametrize("optimizer", ["SGDMomentum", "Adam"])
def test_autoencoder_trajectory(optimizer):
    """20 optimiser steps (4 epochs of 5 batches) with the images as their own targets: the same parameters."""
    X = np.random.default_rng(0).uniform(-1, 1, (40, 1, 6, 7))
    build = _builder((6, 7), 5, "float64")
    opt = (lambda B: B.SGDMomentum(lr=0.01, momentum=0.9)) if optimizer == "SGDMomentum" else \
        (lambda B: B.Adam(lr=0.003))
    report = check_trajectory(f"autoencoder {optimizer}", build, opt, X, X, epochs=4, batch_size=8, scale=SCALE,
                              compare_history=True)
    assert len([c for c in report.comparisons if c.name.startswith("param:")]) == N_PARAMS
    assert report.worst("param:")[1] < 1e-7
    net, _, start = build_pair(build, X[:2], scale=SCALE)  # the steps moved the weights: agreement is not trivial
    S.Trainer(net, opt(S)).fit(X, X, epochs=4, batch_size=8, seed=0, eval_every=4)
    assert min(np.abs(net.state_dict()[k] - start[k]).max() for k in start) > 1e-4


def test_same_initial_weights_and_halves():
    """The same seed draws the same weights in both backends; encode then decode is the forward pass, and the
    halves agree across backends; the torch halves are nn.Sequentials sharing the network's modules."""
    s, t = S.Autoencoder(8, seed=11, dtype="float64"), T.Autoencoder(8, seed=11, dtype="float64")
    ss, ts = s.state_dict(), t.state_dict()
    assert sorted(ss) == sorted(ts) and all(np.array_equal(ss[k], ts[k]) for k in ss)
    assert not np.array_equal(ss["layers.0.W"], S.Autoencoder(8, seed=12).state_dict()["layers.0.W"])
    x = np.random.default_rng(1).uniform(-1, 1, (7, 1, 8, 8))
    for ae in (s, t):
        z = ae.encode(x, batch_size=3)  # in blocks of 3: the same numbers
        assert z.shape == (7, 28) and np.abs(z).max() < 1
        np.testing.assert_allclose(ae.decode(z), ae.forward(x, training=False), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(z, ae.encode(x), rtol=1e-12, atol=1e-14)
    compare("encode", t.encode(x), s.encode(x))
    z = np.random.default_rng(2).uniform(-1, 1, (4, 28))
    compare("decode", t.decode(z), s.decode(z))
    assert isinstance(t.encoder, torch.nn.Sequential) and isinstance(t.decoder, torch.nn.Sequential)
    assert list(t.module.parameters()) == list(t.encoder.parameters()) + list(t.decoder.parameters())


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_mse_on_images(dtype):
    """MeanSquaredError takes (N, C, H, W) prediction and target in both backends: the squared error summed over
    the pixels, averaged over the images (the same number as on flattened images; C*H*W times nn.MSELoss())."""
    rng = np.random.default_rng(3)
    p, y = rng.uniform(-1, 1, (3, 1, 5, 4)).astype(dtype), rng.uniform(-1, 1, (3, 1, 5, 4)).astype(dtype)
    values, grads = {}, {}
    for B in (S, T):
        loss = B.MeanSquaredError()
        values[B.__name__] = loss.forward(p, y)
        grads[B.__name__] = loss.backward()
        assert grads[B.__name__].shape == p.shape
        flat = B.MeanSquaredError()
        assert flat.forward(p.reshape(3, -1), y.reshape(3, -1)) == pytest.approx(values[B.__name__], rel=1e-6)
    torch_mean = float(F.mse_loss(torch.from_numpy(p), torch.from_numpy(y))) * 20
    compare("mse value", np.array(values["torch_impl"]), np.array(values["scratch"]), dtype=dtype)
    compare("mse vs nn.MSELoss * pixels", np.array(torch_mean), np.array(values["scratch"]), dtype=dtype)
    compare("mse grad", grads["torch_impl"], grads["scratch"])
    compare("mse grad formula", grads["scratch"], (2 * (p - y) / 3).astype(dtype))


# --- bad input ---------------------------------------------------------------------------------------------
def test_image_of_the_wrong_size(B):
    ae = B.Autoencoder(8)
    msg = (r"Autoencoder\(image_size=\(8, 8\), encoding_dim=28\): x_batch expected images of shape \(1, 8, 8\) "
           r"\(channels, height, width\), the size the model was built for, got \(1, 28, 28\); build "
           r"Autoencoder\(image_size=\(28, 28\), channels=1\) for these")
    with pytest.raises(ValueError, match=msg):
        ae.forward(np.zeros((2, 1, 28, 28)))
    # the Trainer sends one sample through the network before training: the same check, before any step
    with pytest.raises(ValueError, match=r"x_batch expected images of shape \(1, 8, 8\) .* got \(1, 8, 9\)"):
        B.Trainer(ae, B.SGD(0.01)).fit(np.zeros((4, 1, 8, 9)), np.zeros((4, 1, 8, 9)), epochs=1, batch_size=2)
    with pytest.raises(ValueError, match=r"x expected images of shape \(1, 8, 8\) .* got \(3, 8, 8\)"):
        ae.encode(np.zeros((2, 3, 8, 8)))
    with pytest.raises(ValueError, match=r"z expected encodings of shape \(N, 28\) with N >= 1, got shape \(2, 27\)"):
        ae.decode(np.zeros((2, 27)))


def test_input_that_is_not_4d(B):
    ae = B.Autoencoder((6, 5))
    with pytest.raises(ValueError, match=r"x_batch expected a 4-D \(batch, channels, height, width\) array of shape "
                                         r"\(N, 1, 6, 5\), got 3-D shape \(2, 6, 5\) \(add the channel axis with "
                                         r"x\[:, None\]\)"):
        ae.forward(np.zeros((2, 6, 5)))
    with pytest.raises(ValueError, match=r"got 2-D shape \(2, 30\) \(reshape flattened images with "
                                         r"x.reshape\(-1, 1, 6, 5\)\)"):
        ae.train_batch(np.zeros((2, 30)), np.zeros((2, 30)))
    with pytest.raises(ValueError, match=r"got 5-D shape \(1, 2, 1, 6, 5\)$"):
        ae.encode(np.zeros((1, 2, 1, 6, 5)))
    with pytest.raises(ValueError, match=r"expected at least one image, got shape \(0, 1, 6, 5\)"):
        ae.encode(np.zeros((0, 1, 6, 5)))


def test_nan_in_the_images(B):
    ae = B.Autoencoder(6)
    X = np.zeros((4, 1, 6, 6))
    X[1, 0, 2, 3] = np.nan
    with pytest.raises(ValueError, match=r"x_batch: expected finite values, got 1 NaN and 0 inf"):
        ae.forward(X)
    with pytest.raises(ValueError, match=r"X_train: expected finite values, got 1 NaN"):
        B.Trainer(ae, B.SGD(0.01)).fit(X, X, epochs=1, batch_size=2)
    with pytest.raises(ValueError, match=r"x: expected finite values"):
        ae.encode(X)
    with pytest.raises(ValueError, match=r"z: expected finite values"):
        ae.decode(np.full((1, 28), np.inf))


def test_experiment_scaling_rejects_bad_data():
    X = np.random.default_rng(0).uniform(0, 1, (5, 1, 4, 4)).astype(np.float32)
    lo, hi = experiment.scale_to_unit_range(X, X)
    assert lo.min() == -1 and lo.max() == 1 and np.array_equal(lo, hi)
    bad = X.copy()
    bad[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="X_test: expected finite values, got 1 NaN"):
        experiment.scale_to_unit_range(X, bad)
    with pytest.raises(ValueError, match=r"X_train: expected a 4-D array, got 2-D shape \(5, 16\)"):
        experiment.scale_to_unit_range(X.reshape(5, -1), X)
    with pytest.raises(ValueError, match="every pixel equals 0.0"):
        experiment.scale_to_unit_range(np.zeros_like(X), X)


# --- the experiment, tiny ------------------------------------------------------------------------------------
def test_autoencoder_experiment_on_digits(tmp_path, capsys):
    out = tmp_path / "run"
    m = experiment.main(["--dataset", "digits", "--backend", "both", "--train-size", "120", "--test-size", "60",
                         "--epochs", "2", "--dtype", "float64", "--tsne-points", "40", "--tsne-iter", "260",
                         "--perplexity", "10", "--random-encodings", "4", "--out", str(out), "--no-progress"])
    printed = capsys.readouterr().out
    assert "trustworthiness [scratch]: ours" in printed and "sklearn exact" in printed
    assert m["n_train"] == 120 and m["n_test"] == 60 and m["tsne_points"] == 40 and m["image_shape"] == [1, 8, 8]
    # float64, identical weights and batches: the two backends train the same network
    assert m["max_param_diff"] < 1e-8 and m["test_mse_diff"] < 1e-10
    for name in ("scratch", "torch"):
        r = m[name]
        assert r["lr"] == pytest.approx(0.1 / 64) and r["steps"] == 2 * 2
        assert 0 < r["test_mse"] < 1 and r["test_loss"] == pytest.approx(64 * r["test_mse"])
        assert 0.5 < r["trustworthiness"] <= 1 and 0.5 < r["sklearn_trustworthiness"] <= 1
        assert r["history"]["train_loss"][0] > r["history"]["train_loss"][-1]  # it learns
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["scratch"]["test_mse"] == m["scratch"]["test_mse"]
    for png in ("reconstructions.png", "random_decodings.png", "tsne.png", "loss.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", png
    assert (out / "report.html").stat().st_size > 0 and (out / "config.json").stat().st_size > 0


def test_experiment_rejects_too_few_tsne_points(tmp_path):
    with pytest.raises(SystemExit):
        experiment.main(["--backend", "scratch", "--train-size", "60", "--test-size", "20", "--epochs", "1",
                         "--tsne-points", "5", "--out", str(tmp_path / "r"), "--no-progress"])

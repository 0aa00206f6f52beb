"""The weight exchange: canonical state dicts, round trips across backends, .npz save/load, clear errors."""

from __future__ import annotations

import numpy as np
import pytest

import dlfs
from dlfs.io import load_npz, save_npz


def _net(B, dtype="float64", seed=3):
    net = B.NeuralNetwork([B.Dense(6, B.Tanh()), B.Dense(4, B.ReLU()), B.Dense(2)], B.MeanSquaredError(),
                          seed=seed, dtype=dtype)
    net.forward(np.zeros((1, 5)))
    return net


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_round_trip_scratch_torch_scratch_is_identity(dtype):
    S, T = dlfs.backend("scratch"), dlfs.backend("torch")
    s_net, t_net, s_back = _net(S, dtype, seed=1), _net(T, dtype, seed=2), _net(S, dtype, seed=4)
    original = s_net.state_dict()
    t_net.load_state_dict(original)
    s_back.load_state_dict(t_net.state_dict())
    back = s_back.state_dict()
    assert sorted(back) == sorted(original)
    for k in original:
        assert back[k].dtype == original[k].dtype == np.dtype(dtype)
        np.testing.assert_array_equal(back[k], original[k])  # bit for bit


def test_torch_layout_is_transposed_linear_weight():
    T = dlfs.backend("torch")
    net = _net(T)
    state = net.state_dict()
    lin = net.layers[0].linear
    assert tuple(lin.weight.shape) == (6, 5) and state["layers.0.W"].shape == (5, 6)
    np.testing.assert_array_equal(lin.weight.detach().numpy().T, state["layers.0.W"])
    np.testing.assert_array_equal(lin.bias.detach().numpy()[None, :], state["layers.0.B"])


def test_same_outputs_after_exchange():
    S, T = dlfs.backend("scratch"), dlfs.backend("torch")
    s_net, t_net = _net(S, seed=1), _net(T, seed=2)
    x = np.random.default_rng(0).standard_normal((3, 5))
    assert not np.allclose(s_net.forward(x), t_net.forward(x))  # different seeds, different weights
    t_net.load_state_dict(s_net.state_dict())
    np.testing.assert_allclose(t_net.forward(x), s_net.forward(x), rtol=1e-12)


@pytest.mark.parametrize("src,dst", [("scratch", "torch"), ("torch", "scratch")])
def test_npz_save_in_one_backend_load_in_the_other(tmp_path, src, dst):
    a, b = _net(dlfs.backend(src), seed=1), _net(dlfs.backend(dst), seed=2)
    path = dlfs.save_weights(a, tmp_path / "w.npz")
    dlfs.load_weights(b, path)
    for k, v in a.state_dict().items():
        np.testing.assert_array_equal(b.state_dict()[k], v)


def test_missing_extra_and_misshapen_keys_are_named(B):
    net = _net(B)
    state = net.state_dict()
    missing = {k: v for k, v in state.items() if k != "layers.1.W"}
    with pytest.raises(KeyError, match=r"missing keys \['layers.1.W'\]"):
        net.load_state_dict(missing)
    with pytest.raises(KeyError, match=r"unexpected keys \['layers.9.W'\]"):
        net.load_state_dict({**state, "layers.9.W": np.zeros(3)})
    with pytest.raises(ValueError, match=r"key 'layers.0.W' expected shape \(5, 6\), got \(6, 5\)"):
        net.load_state_dict({**state, "layers.0.W": state["layers.0.W"].T})
    with pytest.raises(ValueError, match="layers.2.B.*NaN or inf"):
        net.load_state_dict({**state, "layers.2.B": np.full((1, 2), np.nan)})


def test_state_dict_before_first_input_says_why(B):
    with pytest.raises(RuntimeError, match="no parameters until it sees its first input"):
        B.Dense(3).state_dict()


def test_npz_write_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "weights.npz"
    save_npz(path, {"a": np.arange(3.0)})

    def crash(*args, **kwargs):
        f = args[0]
        f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(OSError, match="disk full"):
        save_npz(path, {"a": np.zeros(3)})
    monkeypatch.undo()
    np.testing.assert_array_equal(load_npz(path)["a"], np.arange(3.0))  # the previous file is intact
    assert [p.name for p in tmp_path.iterdir()] == ["weights.npz"]  # no temp file left behind


def test_load_missing_file_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        load_npz(tmp_path / "nope.npz")


def test_saved_files_get_ordinary_permissions(tmp_path):
    import os
    import stat

    umask = os.umask(0o022)
    try:
        path = save_npz(tmp_path / "w.npz", {"a": np.zeros(2)})
    finally:
        os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # not mkstemp's 0600

"""The device flag: ``NeuralNetwork(..., device=...)`` in both backends (the scratch backend: the CPU only), the
default from ``$DLFS_TORCH_DEVICE``, ``--device`` in the experiments, clear errors for a GPU that is not there.

Every test runs in both lanes: in CI (no GPU) the CUDA requests are the errors; in ``make test-gpu``
(``DLFS_TORCH_DEVICE=cuda`` on a machine with a GPU) the same tests train on the GPU and hold it to the scratch
backend."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import dlfs
from experiments.common import base_parser, network_device
from study.parity import check_trajectory
from torch_impl.devices import DEVICE_ENV, default_device, resolve_device

HAS_CUDA = torch.cuda.is_available()


def _net(B, device=None, dropout=0.2):
    layers = [B.Conv2D(3, 3, activation="tanh", weight_init="glorot", dropout=dropout, flatten=True),
              B.Dense(4, weight_init="glorot")]
    return B.NeuralNetwork(layers, B.SoftmaxCrossEntropy(), seed=3, dtype="float64", device=device)


def test_the_scratch_backend_runs_on_the_cpu_only():
    S = dlfs.backend("scratch")
    assert _net(S).device == "cpu" and _net(S, "cpu").device == "cpu"
    for device in ("cuda", "cuda:0", "mps"):
        with pytest.raises(ValueError, match=r"device='.*': the scratch backend is NumPy and runs on the CPU only"):
            _net(S, device)
    with pytest.raises(ValueError, match="runs on the CPU only"):
        S.Autoencoder(8, device="cuda")


def test_device_names_are_checked():
    T = dlfs.backend("torch")
    assert resolve_device("cpu") == torch.device("cpu")
    for bad in ("tpu", "cpu:1", "gpu", ""):
        with pytest.raises(ValueError, match=r"NeuralNetwork: device='.*': expected 'cpu', 'cuda' or 'cuda:N'"):
            _net(T, bad)
    with pytest.raises(TypeError, match="expected 'cpu', 'cuda' or 'cuda:N', got int"):
        _net(T, 0)


def test_a_gpu_that_is_not_there_is_a_clear_error():
    T = dlfs.backend("torch")
    if HAS_CUDA:  # the GPU lane: it is there
        assert _net(T, "cuda").device.type == "cuda"
        with pytest.raises(RuntimeError, match=r"this machine has \d+ CUDA device\(s\)"):
            _net(T, f"cuda:{torch.cuda.device_count()}")
        return
    with pytest.raises(RuntimeError, match=r"device='cuda': no CUDA device is available \(torch .*\); use "
                                           r"device='cpu'"):
        _net(T, "cuda")
    with pytest.raises(RuntimeError, match="no CUDA device is available"):
        T.Autoencoder(8, device="cuda:0")


def test_the_default_device_comes_from_the_environment(monkeypatch):
    T = dlfs.backend("torch")
    monkeypatch.setenv(DEVICE_ENV, "cpu")
    assert default_device() == "cpu" and _net(T).device == torch.device("cpu")
    monkeypatch.delenv(DEVICE_ENV)
    assert default_device() == "cpu"
    monkeypatch.setenv(DEVICE_ENV, "cuda")
    if HAS_CUDA:
        assert _net(T).device.type == "cuda" and T.Dense(3).device.type == "cuda"
    else:
        with pytest.raises(RuntimeError, match=r"device=None \(\$DLFS_TORCH_DEVICE='cuda'\): no CUDA device"):
            _net(T)
        with pytest.raises(RuntimeError, match=r"Dense\(3\): device=None .*no CUDA device"):
            T.Dense(3).forward(np.ones((2, 4)))  # a layer on its own takes the default too


def test_training_on_the_default_device_matches_scratch():
    """On the CPU in CI, on the GPU in ``make test-gpu``: parameters, inputs and targets all on the network's
    device, the weights read back as NumPy, the same trajectory as the scratch backend."""
    T = dlfs.backend("torch")
    net = _net(T)
    net.forward(np.zeros((1, 1, 5, 5)), training=False)
    assert {p.device for p in net.module.parameters()} == {net.device}
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((12, 1, 5, 5)), rng.integers(0, 4, 12)
    report = check_trajectory("device", _net, lambda B: B.SGDMomentum(lr=0.1, momentum=0.9), X, y, epochs=3,
                              batch_size=5, compare_history=True)
    assert report.comparisons
    assert isinstance(net.grad_dict()["layers.0.W"], np.ndarray)


def test_the_device_flag_of_the_experiments(capsys):
    parser = base_parser("x", "d")
    assert parser.parse_args([]).device is None
    args = parser.parse_args(["--device", "cpu"])
    assert network_device(args, "torch") == "cpu" and network_device(args, "scratch") is None
    with pytest.raises(SystemExit):
        parser.parse_args(["--device", "tpu"])
    assert "argument --device: device='tpu': expected 'cpu', 'cuda' or 'cuda:N'" in capsys.readouterr().err
    if HAS_CUDA:
        assert parser.parse_args(["--device", "cuda"]).device == "cuda"
    else:
        with pytest.raises(SystemExit):
            parser.parse_args(["--device", "cuda"])
        err = capsys.readouterr().err
        assert "argument --device: device='cuda': no CUDA device is available" in err and "Traceback" not in err
    assert "--device" not in base_parser("x", "d", device=False).format_help()


def test_an_experiment_trains_on_the_device_it_is_given(tmp_path):
    from experiments import demo

    m = demo.main(["--epochs", "2", "--device", default_device(), "--out", str(tmp_path), "--no-progress"])
    assert m["max_loss_difference"] < 1e-10  # float64 on either device: the scratch backend's numbers
    assert json.loads((tmp_path / "config.json").read_text())["args"]["device"] == default_device()


def test_cuda_parity_mode_turns_tf32_off_and_determinism_on():
    code = ("import os, torch; from torch_impl.devices import cuda_parity_mode; cuda_parity_mode(); "
            "print(torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32, "
            "torch.are_deterministic_algorithms_enabled(), os.environ['CUBLAS_WORKSPACE_CONFIG'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "True", ":4096:8"]

"""Both backends export the same public names with identical signatures."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import dlfs
import scratch
import torch_impl
from dlfs.protocols import Layer, Loss

# Methods of the shared protocol: where a class has one, its twin must have it with the same signature.
PROTOCOL_METHODS = ("forward", "backward", "state_dict", "load_state_dict", "grad_dict", "train_batch",
                    "fit", "evaluate", "step", "bind", "setup_decay", "end_epoch", "fit_transform")


def _shape(sig: inspect.Signature) -> list[tuple]:
    """A signature without annotations (they name backend types: np.ndarray vs torch.Tensor adapters)."""
    return [(p.name, p.kind, repr(p.default)) for p in sig.parameters.values()]


def _paired_modules() -> list[str]:
    """Every scratch module with a torch twin of the same name: the book forms (``lstm``) and the fast forms
    (``fast.lstm``) alike are held to the torch module's names and signatures."""
    import scratch.fast

    torch_names = {m.name for m in pkgutil.iter_modules(torch_impl.__path__)}
    names = [m.name for m in pkgutil.iter_modules(scratch.__path__) if m.name in torch_names]
    names += [f"fast.{m.name}" for m in pkgutil.iter_modules(scratch.fast.__path__) if m.name in torch_names]
    return sorted(names)


def test_backend_selection(monkeypatch):
    assert dlfs.backend("scratch") is scratch
    assert dlfs.backend("torch") is torch_impl
    monkeypatch.setenv("DLFS_BACKEND", "torch")
    assert dlfs.backend() is torch_impl
    monkeypatch.delenv("DLFS_BACKEND")
    assert dlfs.backend() is scratch


def test_unknown_backend_names_the_choices(monkeypatch):
    with pytest.raises(ValueError, match=r"backend: expected one of \['scratch', 'torch'\], got 'pytorch'"):
        dlfs.backend("pytorch")
    monkeypatch.setenv("DLFS_BACKEND", "numpyy")
    with pytest.raises(ValueError, match="DLFS_BACKEND: expected one of .* got 'numpyy'"):
        dlfs.backend()


def test_same_public_names():
    assert sorted(scratch.__all__) == sorted(torch_impl.__all__)
    for name in scratch.__all__:
        assert hasattr(scratch, name) and hasattr(torch_impl, name), name


@pytest.mark.parametrize("module", ["<package>"] + _paired_modules())
def test_identical_signatures(module):
    if module == "<package>":
        s_mod, t_mod = scratch, torch_impl
    else:
        s_mod = importlib.import_module(f"scratch.{module}")
        t_mod = importlib.import_module(f"torch_impl.{module.removeprefix('fast.')}")
    s_all, t_all = getattr(s_mod, "__all__", None), getattr(t_mod, "__all__", None)
    assert (s_all is None) == (t_all is None), f"{module}: only one twin defines __all__"
    if s_all is None:
        return
    assert sorted(s_all) == sorted(t_all), f"{module}: public names differ"
    for name in s_all:
        s_obj, t_obj = getattr(s_mod, name), getattr(t_mod, name)
        assert inspect.isclass(s_obj) == inspect.isclass(t_obj), name
        if callable(s_obj):
            assert _shape(inspect.signature(s_obj)) == _shape(inspect.signature(t_obj)), f"{module}.{name}"
        if inspect.isclass(s_obj):
            for meth in PROTOCOL_METHODS:
                s_m, t_m = getattr(s_obj, meth, None), getattr(t_obj, meth, None)
                assert (s_m is None) == (t_m is None), f"{name}.{meth} exists in one backend only"
                if s_m is not None:
                    assert _shape(inspect.signature(s_m)) == _shape(inspect.signature(t_m)), f"{name}.{meth}"


def test_scratch_never_imports_torch():
    import subprocess
    import sys

    code = "import sys, scratch; import scratch.__init__; " \
           "[__import__('importlib').import_module('scratch.' + m.name) for m in " \
           "__import__('pkgutil').iter_modules(scratch.__path__)]; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("backend_name", dlfs.BACKENDS)
def test_layers_answer_the_protocol(backend_name):
    B = dlfs.backend(backend_name)
    for obj in (B.Dense(3), B.Tanh(), B.Sigmoid(), B.ReLU(), B.Linear()):
        assert isinstance(obj, Layer), obj
    assert isinstance(B.MeanSquaredError(), Loss)

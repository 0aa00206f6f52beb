"""Ordinary PyTorch models in and out: ``from_torch(module, backend)`` and ``to_torch(net)``.

The two halves meet in a backend-neutral description, a list of ``LayerSpec``: one per dlfs layer, its class
name (the same in both backends), its constructor arguments and its canonical state dict (the book's layout,
NumPy arrays: ``docs/conventions.md``). The torch half (``torch_impl/interop.py`` reads modules,
``torch_impl/interop_out.py`` writes them) is reached through ``importlib``, as ``dlfs.backend`` reaches a
backend; this module imports neither torch nor a backend. ``docs/interop.md`` has the mapping table.

    net = dlfs.from_torch(model, "scratch")             # nn.Sequential of Linear/Conv2d/pools/RNNs/... -> dlfs
    module = dlfs.to_torch(net)                         # dlfs -> nn.Sequential of standard torch modules
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from dlfs.backends import backend as _backend
from dlfs.tolerances import tolerance

__all__ = ["LayerSpec", "ModelSpec", "UnsupportedModuleError", "from_torch", "to_torch", "torch_grads",
           "describe", "load_torch_layout", "is_torch_layout"]

# dlfs's names for PyTorch's options where they differ (the pools' ``kernel`` is ``kernel_size``)
ALIASES = {"kernel_size": ("kernel",)}
# the dlfs layers to_torch writes as standard torch modules
TO_TORCH_KINDS = ("Dense", "Conv2D", "MaxPool2D", "AvgPool2D", "Flatten", "Reshape", "Dropout", "RNNLayer",
                  "GRULayer (gru='torch')", "LSTMLayer", "RNNLinear", "Sigmoid", "Tanh", "ReLU", "Linear")
_TORCH_KEY = re.compile(r"^(\d+\.)+(weight|bias|(weight|bias)_(ih|hh)_l\d+)$")


class UnsupportedModuleError(ValueError):
    """A module (or one of its options) that dlfs has no layer for; the message names it and what is supported."""


@dataclass
class LayerSpec:
    """One dlfs layer, backend-neutral.

    ``kind`` is the class both backends export (``"Dense"``); ``args`` are constructor arguments in dlfs's
    vocabulary (``neurons``, ``activation`` as a name); ``options`` are PyTorch's options by PyTorch's name
    (``stride``, ``dilation``, ``ceil_mode``...), and ``defaults`` PyTorch's default for some of them: an option
    at its default is dropped where the dlfs class does not take it, any other value needs a class that takes it
    (else ``UnsupportedModuleError``). ``state`` is the layer's canonical state dict (its ``state_dict()`` keys,
    e.g. ``W`` (in, out) and ``B`` (1, out)); ``source`` names what the layer came from, for messages.
    """

    kind: str
    args: dict[str, Any] = field(default_factory=dict)
    options: dict[str, Any] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)
    state: dict[str, np.ndarray] = field(default_factory=dict)
    source: str = ""


@dataclass
class ModelSpec:
    """A whole network: its layers, the per-sample ``input_shape`` it was traced with, its ``dtype``."""

    layers: list[LayerSpec]
    input_shape: tuple[int, ...]
    dtype: str


def _torch_half(part: str = "interop") -> ModuleType:
    """``torch_impl.interop`` (reading modules) or ``torch_impl.interop_out`` (writing them)."""
    return importlib.import_module(f"torch_impl.{part}")


def _resolve_backend(backend: str | ModuleType) -> ModuleType:
    return backend if isinstance(backend, ModuleType) else _backend(backend)


def _make_layer(B: ModuleType, spec: LayerSpec) -> Any:
    """``B.<kind>(**args, **options)``, each option under the name the class takes (PyTorch's, or an alias)."""
    cls = getattr(B, spec.kind)
    accepted = inspect.signature(cls).parameters
    kwargs = dict(spec.args)
    for name, value in spec.options.items():
        target = next((n for n in (name, *ALIASES.get(name, ())) if n in accepted), None)
        if target is not None:
            kwargs[target] = value
        elif name not in spec.defaults or spec.defaults[name] != value:
            raise UnsupportedModuleError(
                f"from_torch: {spec.source}: option {name}={value!r} is not supported: dlfs's {spec.kind} takes "
                f"no {name!r} (it takes {list(accepted)}); only {name}={spec.defaults.get(name, '(none)')!r} "
                f"converts")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise UnsupportedModuleError(f"from_torch: {spec.source}: dlfs's {spec.kind} does not accept "
                                     f"{kwargs}: {e}") from None


def _make_loss(B: ModuleType, loss: Any) -> Any:
    if loss is None:
        return B.MeanSquaredError()
    if isinstance(loss, str):
        if not callable(getattr(B, loss, None)):
            raise ValueError(f"from_torch: loss {loss!r} is not a loss of the backend (try 'MeanSquaredError' or "
                             f"'SoftmaxCrossEntropy')")
        return getattr(B, loss)()
    return loss


def from_torch(module: Any, backend: str | ModuleType = "scratch", *, input_shape: Sequence[int] | None = None,
               loss: Any = None, seed: int = 1, dtype: str | None = None, verify: bool = True) -> Any:
    """A dlfs ``NeuralNetwork`` computing what ``module`` computes, its weights included.

    ``module`` is an ``nn.Sequential`` (nested ones are flattened) or any module whose children run in order
    (a recurrent child hands on its output sequence, ``rnn(x)[0]``), made of the modules ``docs/interop.md``
    lists. ``backend`` is ``"scratch"``, ``"torch"`` or a backend module (``scratch.book``). ``input_shape``
    is one sample's shape, e.g. ``(3, 32, 32)``: needed when the first module does not fix it (a convolution,
    a pool); a Linear gives ``(in_features,)``, a recurrent layer ``(3, input_size)`` (any length works later).
    ``loss`` is a loss of the backend, its name (``"SoftmaxCrossEntropy"``) or None: ``MeanSquaredError()``,
    enough for ``forward``/``backward``; pass the loss you train with. ``seed`` seeds the network's NumPy stream
    (its dropout masks; the weights are the module's). ``dtype`` defaults to the module's
    (float32 or float64). ``verify`` runs both on one random batch in inference mode and raises ``ValueError``
    when they differ (a forward that does not run its children in order). Raises ``UnsupportedModuleError``
    naming a module or option dlfs has no layer for.
    """
    half = _torch_half()
    model: ModelSpec = half.read_module(module, input_shape)
    B = _resolve_backend(backend)
    layers = [_make_layer(B, spec) for spec in model.layers]
    net = B.NeuralNetwork(layers, loss=_make_loss(B, loss), seed=seed, dtype=dtype or model.dtype)
    net.forward(np.zeros((1, *model.input_shape)), training=False)  # the layers draw (placeholder) weights
    net.load_state_dict({f"layers.{i}.{k}": v for i, spec in enumerate(model.layers) for k, v in spec.state.items()})
    if verify:
        _verify(net, module, model, half)
    return net


def _verify(net: Any, module: Any, model: ModelSpec, half: ModuleType) -> None:
    """Both on one random batch of 2 in inference mode, at the coarser of the two dtypes' tolerances."""
    x = np.random.default_rng(0).standard_normal((2, *model.input_shape)).astype(model.dtype)
    expected = half.reference_forward(module, x)
    got = net.forward(x, training=False)
    coarse = "float32" if "float32" in (model.dtype, net.dtype) else "float64"
    tol = tolerance("default", coarse)
    if got.shape != expected.shape:
        raise ValueError(f"from_torch: the converted network gives shape {got.shape}, the module {expected.shape}: "
                         f"does the module's forward run its children in order?")
    err, scale = float(np.abs(got - expected).max()), float(np.abs(expected).max())
    if err > tol.atol + tol.rtol * scale:
        raise ValueError(f"from_torch: the converted network differs from the module (max abs error {err:.3e}, "
                         f"max |output| {scale:.3e}): does the module's forward run its children in order, with "
                         f"nothing between them?")


def torch_grads(module: Any, input_shape: Sequence[int] | None = None) -> dict[str, np.ndarray]:
    """The gradients held by ``module``'s parameters (after a backward) in the canonical layout of
    ``from_torch(module)``'s network: keys ``layers.<i>.<name>``, as its ``grad_dict()``. Folded biases (the
    recurrent layers' ``bias_ih + bias_hh``) have the gradient of either (they are equal), not their sum."""
    model = _torch_half().read_module(module, input_shape, grads=True)
    return {f"layers.{i}.{k}": v for i, spec in enumerate(model.layers) for k, v in spec.state.items()}


# --- out: dlfs -> torch ------------------------------------------------------------------------------------------
def _activation(layer: Any) -> str:
    return type(layer.activation).__name__.lower()


def _kernel(layer: Any) -> Any:
    """A pool's window size, under PyTorch's name or dlfs's former one."""
    return layer.kernel_size if hasattr(layer, "kernel_size") else layer.kernel


def _present(layer: Any, names: Sequence[str]) -> dict[str, Any]:
    return {n: getattr(layer, n) for n in names if hasattr(layer, n)}


_DESCRIBE = {
    "Dense": lambda l: ({"neurons": l.neurons, "activation": _activation(l), "dropout": l.dropout}, {}),
    "Conv2D": lambda l: ({"out_channels": l.neurons, "kernel_size": l.kernel_size, "stride": l.stride,
                          "padding": l.padding, "pads": l.pads, "bias": l.bias, "activation": _activation(l),
                          "dropout": l.dropout, "flatten": l.flatten}, _present(l, ("dilation", "groups"))),
    "MaxPool2D": lambda l: ({"kernel_size": _kernel(l), "stride": l.stride},
                            _present(l, ("padding", "dilation", "ceil_mode"))),
    "AvgPool2D": lambda l: ({"kernel_size": _kernel(l), "stride": l.stride},
                            _present(l, ("padding", "ceil_mode", "count_include_pad", "divisor_override"))),
    "Flatten": lambda l: ({}, {}),
    "Reshape": lambda l: ({"shape": l.shape}, {}),
    "Dropout": lambda l: ({"p": l.p}, {}),
    "RNNLayer": lambda l: ({"hidden_size": l.hidden_size}, {}),
    "LSTMLayer": lambda l: ({"hidden_size": l.hidden_size}, {}),
    "GRULayer": lambda l: ({"hidden_size": l.hidden_size, "gru": l.gru}, {}),
    "RNNLinear": lambda l: ({"neurons": l.neurons}, {}),
    **{k: (lambda l: ({}, {})) for k in ("Sigmoid", "Tanh", "ReLU", "Linear")},
}


def describe(net: Any) -> list[LayerSpec]:
    """A built dlfs network (either backend) as layer specs: each layer's arguments and canonical state."""
    state = net.state_dict()
    specs = []
    for i, layer in enumerate(net.layers):
        kind = type(layer).__name__
        if kind not in _DESCRIBE:
            raise UnsupportedModuleError(f"to_torch: layer {i} {layer!r} has no standard PyTorch module; "
                                         f"supported: {', '.join(TO_TORCH_KINDS)}")
        args, options = _DESCRIBE[kind](layer)
        prefix = f"layers.{i}."
        own = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        specs.append(LayerSpec(kind, args, options, state=own, source=f"layer {i} {layer!r}"))
    return specs


def to_torch(net: Any) -> Any:
    """A plain ``torch.nn.Sequential`` of standard modules computing what ``net`` (built, either backend)
    computes, with its weights in PyTorch's layouts: ``Dense`` -> ``nn.Linear`` (+ activation, + ``nn.Dropout``),
    ``Conv2D`` -> ``nn.Conv2d`` (+ activation, + ``nn.Flatten``, + ``nn.Dropout``), consecutive recurrent layers
    of one kind -> one ``nn.LSTM``/``nn.GRU``/``nn.RNN`` with ``num_layers``, ... (``docs/interop.md``). Its
    ``state_dict()`` loads (strict) into the hand-written equivalent. A network with a recurrent layer comes
    back as an ``nn.Sequential`` subclass that hands on ``rnn(x)[0]`` (a plain one cannot hold an ``nn.LSTM``).
    Dropout becomes ``nn.Dropout``, drawing its masks from torch's generator."""
    return _torch_half("interop_out").build_module(describe(net), net.dtype)[0]


def is_torch_layout(state: Mapping[str, Any]) -> bool:
    """Whether ``state``'s keys are a ``to_torch(net).state_dict()``'s (``0.weight``, ``2.weight_ih_l1``...)."""
    return bool(state) and all(_TORCH_KEY.match(k) for k in state)


def load_torch_layout(net: Any, state: Mapping[str, np.ndarray]) -> None:
    """Load a ``to_torch(net).state_dict()`` (as NumPy arrays, e.g. from a safetensors file written with
    ``safetensors.torch``) into ``net``: the module is rebuilt, the state loaded into it strictly (a missing,
    unexpected or misshapen key is named) and read back in the canonical layout."""
    half = _torch_half("interop_out")
    specs = describe(net)
    module, owners = half.build_module(specs, net.dtype)
    half.load_numpy_state(module, state)
    states = half.canonical_states(module, specs, owners)
    net.load_state_dict({f"layers.{i}.{k}": v for i, s in enumerate(states) for k, v in s.items()})

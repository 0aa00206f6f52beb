"""The torch half of ``dlfs.from_torch``: ordinary PyTorch modules read into backend-neutral layer
specs (``dlfs.interop.LayerSpec``); writing them back (``to_torch``) is ``interop_out.py``.

Reading walks the children in order (nested ``nn.Sequential`` flattened), runs each once on zeros
of the traced shape (eval mode, no gradient) to learn its input and output shapes, and maps it:

    nn.Linear        (batch, in) -> Dense, (batch, time, in) -> RNNLinear; W = weight.T (in, out),
                     B = bias[None] (1, out)
    nn.Conv2d        Conv2D; W = weight.permute(1, 0, 2, 3) (in, out, kh, kw), B (1, O, 1, 1)
    an activation    right after a Linear read as Dense, or a Conv2d: their ``activation=``;
                     anywhere else a layer of its own
    nn.RNN/GRU/LSTM  one RNNLayer/GRULayer/LSTMLayer per layer (num_layers), a Dropout between
                     layers where ``dropout > 0``; biases folded by ``torch_impl/recurrent.py``
    pools, Dropout, Flatten, Unflatten: their dlfs layers (a Flatten or Unflatten other than
                     Flatten() is a Reshape to its output's shape: both keep row-major order)

Options go by PyTorch's name into ``LayerSpec.options``; ``dlfs/interop.py`` hands each to a class
that takes it, or raises ``UnsupportedModuleError`` unless it is at PyTorch's default.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from dlfs.interop import LayerSpec, ModelSpec, UnsupportedModuleError
from torch_impl.base import to_numpy
from torch_impl.gru import GRULayer
from torch_impl.lstm import LSTMLayer
from torch_impl.recurrent import StackedLayout
from torch_impl.rnn import RNNLayer

__all__ = ["RecurrentSequential", "read_module", "reference_forward", "SUPPORTED"]

ACTIVATIONS = {nn.Sigmoid: "sigmoid", nn.Tanh: "tanh", nn.ReLU: "relu", nn.Identity: "linear"}
ACTIVATION_MODULES = {name: cls for cls, name in ACTIVATIONS.items()}
ACTIVATION_KINDS = {"sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "ReLU", "linear": "Linear"}
RECURRENT = {nn.RNN: "RNNLayer", nn.GRU: "GRULayer", nn.LSTM: "LSTMLayer"}
TORCH_RECURRENT = {kind: cls for cls, kind in RECURRENT.items()}
LAYOUTS: dict[str, type] = {"RNNLayer": RNNLayer, "GRULayer": GRULayer, "LSTMLayer": LSTMLayer}
SUPPORTED = ("nn.Linear", "nn.Conv2d", "nn.MaxPool2d", "nn.AvgPool2d", "nn.Flatten",
             "nn.Unflatten", "nn.Dropout", "nn.Sigmoid", "nn.Tanh", "nn.ReLU", "nn.Identity",
             "nn.RNN", "nn.GRU", "nn.LSTM (batch_first=True)", "nn.Sequential (flattened)")


class RecurrentSequential(nn.Sequential):
    """``nn.Sequential`` whose recurrent children hand on their output sequence, ``rnn(x)[0]``
    (a plain one would pass ``nn.LSTM``'s (output, state) tuple on). Keys are nn.Sequential's."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for m in self:
            x = m(x)
            if isinstance(x, tuple):
                x = x[0]
        return x


def _name(m: nn.Module) -> str:
    cls = type(m)
    return f"nn.{cls.__name__}" if cls.__module__.startswith("torch.nn") else cls.__qualname__


@dataclass
class _Ctx:
    """Where a module sits and what it sees: its source text, input and output shapes (batch 1),
    and whether the specs carry the parameters' values or their gradients."""

    source: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    grads: bool

    def value(self, p: torch.Tensor) -> np.ndarray:
        """A parameter's value, or its gradient (zeros when it has none)."""
        if self.grads:
            return to_numpy(torch.zeros_like(p) if p.grad is None else p.grad).copy()
        return to_numpy(p).copy()

    def unsupported(self, what: str) -> UnsupportedModuleError:
        return UnsupportedModuleError(f"from_torch: {self.source}: {what}")


def _pair(v: Any) -> Any:
    """PyTorch's (a, a) as a, other pairs as tuples, strings and ints as they are."""
    if isinstance(v, tuple | list):
        return v[0] if len(set(v)) == 1 else tuple(v)
    return v


def _spec(kind: str, c: _Ctx, args: dict | None = None, options: dict | None = None,
          defaults: dict | None = None, state: dict | None = None) -> LayerSpec:
    return LayerSpec(kind, args or {}, options or {}, defaults or {}, state or {}, c.source)


def _linear(m: nn.Linear, c: _Ctx) -> list[LayerSpec]:
    rank = len(c.in_shape)
    if rank not in (2, 3):
        raise c.unsupported(f"nn.Linear on a {rank}-D input: dlfs has Dense for (batch, "
                            f"features) and RNNLinear for (batch, time, features)")
    state = {"W": c.value(m.weight).T.copy()}  # (in, out)
    if m.bias is not None:
        state["B"] = c.value(m.bias)[None, :]  # (1, out)
    return [_spec("Dense" if rank == 2 else "RNNLinear", c, {"neurons": m.out_features},
                  {"bias": m.bias is not None}, {"bias": True}, state)]


def _conv(m: nn.Conv2d, c: _Ctx) -> list[LayerSpec]:
    state = {"W": c.value(m.weight).transpose(1, 0, 2, 3).copy()}  # (in/groups, out, kh, kw)
    if m.bias is not None:
        state["B"] = c.value(m.bias).reshape(1, -1, 1, 1)
    options = {"stride": _pair(m.stride), "padding": _pair(m.padding),
               "dilation": _pair(m.dilation), "groups": m.groups, "bias": m.bias is not None,
               "padding_mode": m.padding_mode}
    defaults = {"stride": 1, "dilation": 1, "groups": 1, "bias": True, "padding_mode": "zeros"}
    args = {"out_channels": m.out_channels, "kernel_size": _pair(m.kernel_size)}
    return [_spec("Conv2D", c, args, options, defaults, state)]


def _pool(m: nn.MaxPool2d | nn.AvgPool2d, c: _Ctx) -> list[LayerSpec]:
    options = {"kernel_size": _pair(m.kernel_size), "stride": _pair(m.stride),
               "padding": _pair(m.padding), "ceil_mode": m.ceil_mode}
    defaults = {"padding": 0, "ceil_mode": False}
    if isinstance(m, nn.MaxPool2d):
        if m.return_indices:
            raise c.unsupported("return_indices=True (the output would be a tuple)")
        options["dilation"], defaults["dilation"] = _pair(m.dilation), 1
        return [_spec("MaxPool2D", c, options=options, defaults=defaults)]
    options["count_include_pad"] = m.count_include_pad
    # without padding there is nothing to include: either value computes the same
    defaults["count_include_pad"] = m.count_include_pad if options["padding"] == 0 else True
    options["divisor_override"], defaults["divisor_override"] = m.divisor_override, None
    return [_spec("AvgPool2D", c, options=options, defaults=defaults)]


def _reshape(m: nn.Flatten | nn.Unflatten, c: _Ctx) -> list[LayerSpec]:
    rank = len(c.in_shape)
    dim = m.start_dim if isinstance(m, nn.Flatten) else m.dim
    if dim % rank == 0:
        raise c.unsupported("it reshapes the batch axis (axis 0 of a dlfs layer is the batch)")
    if isinstance(m, nn.Flatten) and dim % rank == 1 and m.end_dim % rank == rank - 1:
        return [_spec("Flatten", c)]
    return [_spec("Reshape", c, {"shape": c.out_shape[1:]})]


def _recurrent(m: nn.RNNBase, c: _Ctx) -> list[LayerSpec]:
    kind = RECURRENT[type(m)]
    if not m.batch_first:
        raise c.unsupported("batch_first=False: dlfs's recurrent layers take (batch, time, "
                            "features); build the module with batch_first=True")
    options: dict[str, Any] = {"bias": m.bias, "bidirectional": m.bidirectional}
    defaults: dict[str, Any] = {"bias": True, "bidirectional": False}
    if isinstance(m, nn.LSTM):
        options["proj_size"], defaults["proj_size"] = m.proj_size, 0
    if isinstance(m, nn.RNN):
        options["nonlinearity"], defaults["nonlinearity"] = m.nonlinearity, "tanh"
    args = {"hidden_size": m.hidden_size, **({"gru": "torch"} if kind == "GRULayer" else {})}
    plain = m.bias and not m.bidirectional and not m.proj_size  # else the build refuses it
    specs = []
    for layer in range(m.num_layers):
        if layer and m.dropout > 0:
            specs.append(_spec("Dropout", c, {"p": m.dropout}))
        state = _rnn_state(kind, m, layer, c.grads) if plain else {}
        specs.append(LayerSpec(kind, dict(args), options, defaults, state,
                               f"{c.source} layer {layer}"))
    return specs


def _layout(kind: str, m: nn.Module, layer: int) -> StackedLayout:
    """The torch_impl layer's weight exchange, pointed at layer ``layer`` of ``m``'s tensors."""
    names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
    tensors = tuple(getattr(m, f"{n}_l{layer}") for n in names)

    class Bound(LAYOUTS[kind]):  # type: ignore[misc, valid-type]  (the layout, reading m's tensors)
        def _tensors(self) -> tuple[torch.Tensor, ...]:
            return tensors

    return Bound(m.hidden_size)


def _rnn_state(kind: str, m: nn.Module, layer: int, grads: bool = False) -> dict[str, np.ndarray]:
    """Layer ``layer`` of ``m`` in the canonical layout; ``grads=True``: its gradients, where a
    folded bias ``B = bias_ih + bias_hh`` has the gradient of either (equal), not their sum."""
    layout = _layout(kind, m, layer)
    with torch.no_grad():
        if not grads:
            return {k: to_numpy(v).copy() for k, v in layout._canonical().items()}
        w_ih, w_hh, b_ih, b_hh = (torch.zeros_like(t) if t.grad is None else t.grad
                                  for t in layout._tensors())
        hh = None
        if layout.separate_hh is not None:  # only that block (the GRU's n) is a parameter: B_hh
            rows = layout._rows(next(k for k, g in layout.blocks if g == layout.separate_hh))
            hh = torch.zeros_like(b_hh)
            hh[rows] = b_hh[rows]
        state = layout._to_canonical(w_ih, w_hh, b_ih, hh)
        return {k: to_numpy(v).copy() for k, v in state.items()}


READERS: dict[type, Callable[[Any, _Ctx], list[LayerSpec]]] = {
    nn.Linear: _linear, nn.Conv2d: _conv, nn.MaxPool2d: _pool, nn.AvgPool2d: _pool,
    nn.Flatten: _reshape, nn.Unflatten: _reshape, nn.RNN: _recurrent, nn.GRU: _recurrent,
    nn.LSTM: _recurrent, nn.Dropout: lambda m, c: [_spec("Dropout", c, {"p": m.p})],
}


def _entries(module: nn.Module) -> list[tuple[str, nn.Module]]:
    """(dotted name, module) of every child in order, nested ``nn.Sequential`` flattened."""
    out: list[tuple[str, nn.Module]] = []

    def walk(m: nn.Module, prefix: str) -> None:
        for name, child in m.named_children():
            if type(child) in (nn.Sequential, RecurrentSequential):
                walk(child, f"{prefix}{name}.")
            else:
                out.append((f"{prefix}{name}", child))

    if type(module) in READERS or type(module) in ACTIVATIONS:
        return [("", module)]
    walk(module, "")
    if not out:
        raise UnsupportedModuleError(f"from_torch: {_name(module)} has no children to convert; "
                                     f"supported: {', '.join(SUPPORTED)}")
    return out


def _dtype(module: nn.Module, default: torch.dtype = torch.float32) -> torch.dtype:
    """The dtype of ``module``'s parameters (``default`` when it has none)."""
    dtypes = {p.dtype for p in module.parameters()} or {default}
    if len(dtypes) > 1 or not dtypes <= {torch.float32, torch.float64}:
        raise UnsupportedModuleError(f"from_torch: parameters of dtype {sorted(map(str, dtypes))}; "
                                     f"dlfs runs float32 or float64 (convert with module.float() "
                                     f"or module.double())")
    return dtypes.pop()


def _input_shape(entries: list[tuple[str, nn.Module]]) -> tuple[int, ...]:
    """One sample's shape, from the first module that fixes it."""
    for _, m in entries:
        if isinstance(m, nn.Linear):
            return (m.in_features,)
        if type(m) in RECURRENT:
            return (3, m.input_size)
        if isinstance(m, nn.Unflatten) and m.dim in (1, -1):
            return (int(np.prod(m.unflattened_size)),)
        if not isinstance(m, nn.Dropout) and type(m) not in ACTIVATIONS:
            break
    raise ValueError(f"from_torch: the input shape does not follow from the first module "
                     f"({_name(entries[0][1])}); pass input_shape, one sample's shape, e.g. "
                     f"input_shape=(3, 32, 32)")


def _run(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``m(x)`` in eval mode (no dropout draws from torch's generator), its modes restored after;
    ``[0]`` of a tuple."""
    modes = [(s, s.training) for s in m.modules()]
    try:
        m.eval()
        with torch.no_grad():
            y = m(x)
    finally:
        for s, training in modes:
            s.training = training
    return y[0] if isinstance(y, tuple) else y


def read_module(module: nn.Module, input_shape: Sequence[int] | None = None,
                grads: bool = False) -> ModelSpec:
    """``module``'s children as dlfs layer specs with their canonical states (``grads=True``: the
    parameters' gradients instead). Shapes are traced on a batch of 1 of ``input_shape``."""
    if not isinstance(module, nn.Module):
        raise TypeError(f"from_torch: expected a torch.nn.Module, got {type(module).__name__}")
    entries = _entries(module)
    dtype = _dtype(module)
    shape = (tuple(int(s) for s in input_shape) if input_shape is not None
             else _input_shape(entries))
    x = torch.zeros((1, *shape), dtype=dtype)
    specs: list[LayerSpec] = []
    fusable: LayerSpec | None = None  # a Dense or Conv2D just read: its activation is still free
    for pos, (name, m) in enumerate(entries):
        source = f"module {name!r} (position {pos}, {_name(m)})" if name else _name(m)
        if type(m) not in READERS and type(m) not in ACTIVATIONS:
            raise UnsupportedModuleError(f"from_torch: {source} is not supported: {m!r}; "
                                         f"supported: {', '.join(SUPPORTED)}")
        try:
            y = x if isinstance(m, nn.Dropout) else _run(m, x)
        except (RuntimeError, ValueError, TypeError) as e:
            raise ValueError(f"from_torch: {source} fails on an input of shape "
                             f"{tuple(x.shape)} (traced from input_shape {shape}): {e}") from None
        c = _Ctx(source, tuple(x.shape), tuple(y.shape), grads)
        x = y
        if type(m) in ACTIVATIONS:
            act = ACTIVATIONS[type(m)]
            if fusable is not None:
                fusable.args["activation"] = act
                fusable.source = f"{fusable.source} + {source}"
            else:
                specs.append(_spec(ACTIVATION_KINDS[act], c))
            fusable = None
            continue
        new = READERS[type(m)](m, c)
        specs += new
        fusable = new[-1] if new[-1].kind in ("Dense", "Conv2D") else None
    return ModelSpec(specs, shape, str(dtype).removeprefix("torch."))


def reference_forward(module: nn.Module, x: np.ndarray) -> np.ndarray:
    """``module(x)`` in eval mode, as an array (``[0]`` of a tuple); the module's modes restored."""
    t = torch.from_numpy(np.ascontiguousarray(x))
    t = t.to(_dtype(module, t.dtype))
    try:
        return to_numpy(_run(module, t))
    except (RuntimeError, TypeError, ValueError) as e:
        raise ValueError(f"from_torch: the module's own forward fails on a batch of shape "
                         f"{x.shape}: {e} (an nn.Sequential cannot hold an nn.RNN/GRU/LSTM, which "
                         f"returns a tuple: use a module whose forward hands on rnn(x)[0], such "
                         f"as torch_impl.interop.RecurrentSequential)") from None

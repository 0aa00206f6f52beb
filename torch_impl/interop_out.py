"""The torch half of ``dlfs.to_torch``: dlfs layer specs written as standard PyTorch modules.

    Dense            nn.Linear (weight = W.T, bias = B[0]), its activation's module (none for
                     Linear), nn.Dropout(p) when dropout > 0
    Conv2D           nn.Conv2d (weight = W.permute(1, 0, 2, 3)), padding "same" as "same", an
                     asymmetric padding as an nn.ZeroPad2d before it; activation, nn.Flatten
                     (flatten=True), nn.Dropout
    RNNLinear        nn.Linear
    recurrent        consecutive RNNLayer/GRULayer/LSTMLayer of one kind and size (a Dropout(p)
                     between each pair, or none) -> one nn.RNN/nn.GRU/nn.LSTM(num_layers,
                     dropout=p, batch_first=True); the canonical bias goes into bias_ih, bias_hh
                     holds zeros (the GRU's n block: B_hh)
    pools, Flatten, Dropout, activations: nn.MaxPool2d, nn.AvgPool2d, nn.Flatten, nn.Dropout,
                     nn.Sigmoid/nn.Tanh/nn.ReLU/nn.Identity; Reshape -> nn.Unflatten(1, shape)
                     (after nn.Flatten() unless its input is known to be 2-D)

The container is an ``nn.Sequential`` (``torch_impl.interop.RecurrentSequential``, which hands on
``rnn(x)[0]``, where there is a recurrent module): the state-dict keys are ``<index>.<name>``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from dlfs.interop import LayerSpec, UnsupportedModuleError
from torch_impl.base import TORCH_DTYPES, copy_, to_numpy
from torch_impl.interop import (
    ACTIVATION_MODULES,
    LAYOUTS,
    TORCH_RECURRENT,
    RecurrentSequential,
    _layout,
    _rnn_state,
)

__all__ = ["build_module", "load_numpy_state", "canonical_states"]

Owner = tuple[int, int] | None  # (index in the container, layer of a recurrent module) or no params


def _tail(s: LayerSpec, flatten: bool = False) -> list[nn.Module]:
    """What follows a Dense's or Conv2D's weights: activation, flatten, dropout."""
    act = s.args.get("activation", "linear")
    out: list[nn.Module] = [] if act == "linear" else [ACTIVATION_MODULES[act]()]
    if flatten:
        out.append(nn.Flatten())
    if s.args.get("dropout", 0.0) > 0:
        out.append(nn.Dropout(s.args["dropout"]))
    return out


def _linear(s: LayerSpec, dtype: torch.dtype) -> nn.Linear:
    W, B = s.state["W"], s.state["B"]  # (in, out), (1, out)
    m = nn.Linear(W.shape[0], W.shape[1], dtype=dtype)
    copy_(m.weight, W.T)
    copy_(m.bias, B[0])
    return m


def _conv(s: LayerSpec, dtype: torch.dtype) -> list[nn.Module]:
    """[nn.ZeroPad2d,] nn.Conv2d: W (C/groups, O, kh, kw) -> weight (O, C/groups, kh, kw)."""
    a, groups = s.args, s.options.get("groups", 1)
    W = s.state["W"]
    top, bottom, left, right = a["pads"]
    pre: list[nn.Module] = []
    if a["padding"] == "same":
        padding: str | tuple[int, int] = "same"
    elif top == bottom and left == right:
        padding = (top, left)
    else:
        padding, pre = (0, 0), [nn.ZeroPad2d((left, right, top, bottom))]
    conv = nn.Conv2d(W.shape[0] * groups, W.shape[1], a["kernel_size"], stride=a["stride"],
                     padding=padding, dilation=s.options.get("dilation", 1), groups=groups,
                     bias=a["bias"], dtype=dtype)
    copy_(conv.weight, W.transpose(1, 0, 2, 3))
    if a["bias"]:
        copy_(conv.bias, s.state["B"].reshape(-1))
    return [*pre, conv]


def _same_stack(a: LayerSpec, b: LayerSpec) -> bool:
    return a.kind == b.kind and a.args == b.args


def _recurrent_group(specs: list[LayerSpec], i: int) -> tuple[list[int], float]:
    """The indices of the recurrent layers stacked from ``specs[i]`` on (one kind and size, the same
    dropout between each pair) and that dropout."""
    group, p, j = [i], None, i + 1
    while j < len(specs):
        q, nxt = 0.0, j
        if specs[j].kind == "Dropout":
            q, nxt = specs[j].args["p"], j + 1
        if nxt >= len(specs) or not _same_stack(specs[nxt], specs[i]) or (p is not None and q != p):
            break
        group.append(nxt)
        p, j = q, nxt + 1
    return group, p or 0.0


def _recurrent(specs: list[LayerSpec], group: list[int], p: float, dtype: torch.dtype) -> nn.Module:
    s = specs[group[0]]
    if s.args.get("gru", "torch") != "torch":
        raise UnsupportedModuleError(f"to_torch: {s.source}: the classic GRU has no standard "
                                     f"PyTorch module (nn.GRU is gru='torch')")
    H = s.args["hidden_size"]
    first = s.state["W_xr"] if s.kind == "GRULayer" else s.state["W_f"]
    V = first.shape[0] if s.kind == "GRULayer" else first.shape[0] - H
    m = TORCH_RECURRENT[s.kind](V, H, num_layers=len(group), batch_first=True, dropout=p,
                                dtype=dtype)
    for layer, k in enumerate(group):
        _layout(s.kind, m, layer)._load_canonical(specs[k].state)
    return m


def _pool(s: LayerSpec) -> nn.Module:
    cls = nn.MaxPool2d if s.kind == "MaxPool2D" else nn.AvgPool2d
    return cls(s.args["kernel_size"], s.args["stride"], **s.options)


def build_module(specs: list[LayerSpec], dtype: str) -> tuple[nn.Module, list[Owner]]:
    """The standard modules for ``specs``, their weights set, and for each spec the container index
    (and recurrent layer) holding its parameters, None for a parameter-free one."""
    td = TORCH_DTYPES[dtype]
    mods: list[nn.Module] = []
    owners: list[Owner] = [None] * len(specs)
    rank: int | None = None  # of the current output, where known: Reshape needs it
    recurrent, i = False, 0
    with torch.no_grad():
        while i < len(specs):
            s, k = specs[i], specs[i].kind
            if k in LAYOUTS:
                group, p = _recurrent_group(specs, i)
                for layer, j in enumerate(group):
                    owners[j] = (len(mods), layer)
                mods.append(_recurrent(specs, group, p, td))
                recurrent, rank, i = True, 3, group[-1] + 1
                continue
            if k in ("Dense", "RNNLinear"):
                owners[i] = (len(mods), 0)
                mods.append(_linear(s, td))
                mods += _tail(s) if k == "Dense" else []
                rank = 2 if k == "Dense" else 3
            elif k == "Conv2D":
                conv = _conv(s, td)
                owners[i] = (len(mods) + len(conv) - 1, 0)
                mods += conv + _tail(s, flatten=s.args["flatten"])
                rank = 2 if s.args["flatten"] else 4
            elif k in ("MaxPool2D", "AvgPool2D"):
                mods.append(_pool(s))
                rank = 4
            elif k == "Flatten":
                mods.append(nn.Flatten())
                rank = 2
            elif k == "Reshape":
                shape = tuple(s.args["shape"])
                mods += ([] if rank == 2 else [nn.Flatten()]) + [nn.Unflatten(1, shape)]
                rank = 1 + len(shape)
            elif k == "Dropout":
                mods.append(nn.Dropout(s.args["p"]))
            else:  # an activation layer
                mods.append(ACTIVATION_MODULES[k.lower()]())
            i += 1
    return (RecurrentSequential if recurrent else nn.Sequential)(*mods), owners


def load_numpy_state(module: nn.Module, state: Mapping[str, np.ndarray]) -> None:
    """``module.load_state_dict`` from NumPy arrays, strictly: a missing, unexpected or misshapen
    key is named (``KeyError`` / ``ValueError``)."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    if missing or extra:
        raise KeyError(f"load_weights: a PyTorch-layout state does not match to_torch(net)'s: "
                       f"missing keys {missing}, unexpected keys {extra} (expected keys "
                       f"{list(expected)})")
    for k, v in expected.items():
        if tuple(np.shape(state[k])) != tuple(v.shape):
            raise ValueError(f"load_weights: key {k!r} expected shape {tuple(v.shape)} (PyTorch's "
                             f"layout), got {tuple(np.shape(state[k]))}")
    module.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(state[k])).to(v.dtype)
                            for k, v in expected.items()}, strict=True)


def canonical_states(module: nn.Module, specs: list[LayerSpec],
                     owners: list[Owner]) -> list[dict[str, np.ndarray]]:
    """Each spec's canonical state, read back from the modules ``build_module`` made."""
    out = []
    for s, owner in zip(specs, owners, strict=True):
        if owner is None:
            out.append({})
            continue
        m = module[owner[0]]
        if isinstance(m, nn.Linear):
            out.append({"W": to_numpy(m.weight).T.copy(), "B": to_numpy(m.bias)[None, :].copy()})
        elif isinstance(m, nn.Conv2d):
            state = {"W": to_numpy(m.weight).transpose(1, 0, 2, 3).copy()}
            if m.bias is not None:
                state["B"] = to_numpy(m.bias).reshape(1, -1, 1, 1).copy()
            out.append(state)
        else:
            out.append(_rnn_state(s.kind, m, owner[1]))
    return out

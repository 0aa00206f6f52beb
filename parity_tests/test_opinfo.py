"""PyTorch's own test samples through both backends: every OpInfo sample of the paired ops.

For ``conv2d``, ``max_pool2d``, ``avg_pool2d``, ``cross_entropy`` and ``mse_loss``, each sample that
``op.sample_inputs("cpu", dtype)`` yields (PyTorch's ``op_db``, float64 and float32) is passed to each
backend's public API (and to the book form, for the layers that have a separate one) as PyTorch receives it:
the same shapes, the same arguments by PyTorch's names, a conv's weight and bias loaded through
``load_state_dict`` in the canonical layout. The forward output, the input gradient and every parameter
gradient (from a random upstream gradient) are compared with PyTorch's own autograd by the usual helper
(``study.parity.compare``, the tolerance table). Every sample must be expressible: one that a backend
refuses fails the test, with the backend's error quoted.

``max_pool2d``'s ``return_indices=True`` samples compare the values and their gradient; the indices are not
an output of ``MaxPool2D``. The per-op counts (samples, expressible, passed) go to
``runs/test-artefacts/opinfo-<op>-<dtype>.json``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from study.concepts import ROOT
from study.parity import compare, namespace

ARTEFACTS = Path(os.environ.get("DLFS_ARTEFACTS") or ROOT / "runs" / "test-artefacts")
OPS = ("nn.functional.conv2d", "nn.functional.max_pool2d", "nn.functional.avg_pool2d",
       "nn.functional.cross_entropy", "nn.functional.mse_loss")
BOOK_FORMS = ("nn.functional.conv2d", "nn.functional.max_pool2d", "nn.functional.avg_pool2d")
# F.<op>'s positional parameters after the input, in order: how a sample's args are named
POSITIONAL = {
    "nn.functional.conv2d": ("weight", "bias", "stride", "padding", "dilation", "groups"),
    "nn.functional.max_pool2d": ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"),
    "nn.functional.avg_pool2d": ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
                                 "divisor_override"),
    "nn.functional.cross_entropy": ("target", "weight", "size_average", "ignore_index", "reduce", "reduction",
                                    "label_smoothing"),
    "nn.functional.mse_loss": ("target", "size_average", "reduce", "reduction"),
}


class Cannot(Exception):
    """A sample the shared API cannot express; the message says why."""


@dataclass
class Result:
    output: np.ndarray
    input_grad: np.ndarray
    param_grads: dict[str, np.ndarray]


def _np(t: Any) -> Any:
    return t.detach().cpu().numpy().copy() if isinstance(t, torch.Tensor) else t


def arguments(name: str, sample: Any) -> dict[str, Any]:
    """The sample's arguments by PyTorch's names (positional ones named from F.<op>'s signature)."""
    kw = dict(zip(POSITIONAL[name], sample.args))
    overlap = set(kw) & set(sample.kwargs)
    assert not overlap, f"{name}: {overlap} given twice"
    return {**kw, **sample.kwargs}


def _stride(value: Any) -> Any:
    return None if value is None or (isinstance(value, list | tuple) and len(value) == 0) else value


# --- each op: the reference (PyTorch's autograd) and one backend's run -------------------------------------------

def reference(name: str, sample: Any, upstream: Callable[[tuple[int, ...]], np.ndarray]) -> tuple[Result, np.ndarray]:
    """PyTorch on the sample: output, input gradient and parameter gradients (canonical layout), and the
    upstream gradient used (drawn for the output's shape)."""
    x = sample.input.detach().clone().requires_grad_(True)
    kw = arguments(name, sample)
    params: dict[str, torch.Tensor] = {}
    if name == "nn.functional.conv2d":
        params["W"] = kw.pop("weight").detach().clone().requires_grad_(True)
        if kw.get("bias") is not None:
            params["B"] = kw.pop("bias").detach().clone().requires_grad_(True)
        kw.pop("bias", None)
        out = F.conv2d(x, params["W"], params.get("B"), **kw)
    else:
        op = getattr(F, name.split(".")[-1])
        target = kw.pop("target", None)
        out = op(x, target, **kw) if target is not None else op(x, **kw)
        if isinstance(out, tuple):  # max_pool2d(return_indices=True): (values, indices)
            out = out[0]
    g = upstream(tuple(out.shape))
    out.backward(torch.as_tensor(g, dtype=out.dtype))
    grads = {}
    if "W" in params:
        grads["W"] = _np(params["W"].grad.permute(1, 0, 2, 3))
    if "B" in params:
        grads["B"] = _np(params["B"].grad.reshape(1, -1, 1, 1))
    return Result(_np(out), _np(x.grad), grads), g


def run_backend(B: Any, name: str, sample: Any, g: np.ndarray) -> Result:
    """One backend's public API on the sample, with upstream gradient ``g``; raises ``Cannot``."""
    x = _np(sample.input)
    kw = arguments(name, sample)
    if name == "nn.functional.conv2d":
        weight, bias = _np(kw["weight"]), _np(kw.get("bias"))
        layer = B.Conv2D(out_channels=weight.shape[0], kernel_size=tuple(weight.shape[2:]),
                         stride=kw.get("stride", 1), padding=kw.get("padding", 0), dilation=kw.get("dilation", 1),
                         groups=kw.get("groups", 1), bias=bias is not None)
        layer.forward(x, training=False)
        state = {"W": weight.transpose(1, 0, 2, 3)}
        if bias is not None:
            state["B"] = bias.reshape(1, -1, 1, 1)
        layer.load_state_dict(state)
        out = layer.forward(x, training=False)
        return Result(out, layer.backward(g), layer.grad_dict())
    if name in ("nn.functional.max_pool2d", "nn.functional.avg_pool2d"):
        kw.pop("return_indices", None)  # the values are compared; the indices are not an output of the layer
        kw["stride"] = _stride(kw.get("stride"))
        cls = B.MaxPool2D if "max" in name else B.AvgPool2D
        layer = cls(**kw)
        out = layer.forward(x, training=False)
        return Result(out, layer.backward(g), {})
    target = _np(kw.pop("target"))
    for legacy in ("size_average", "reduce"):
        if kw.pop(legacy, None) is not None:
            raise Cannot(f"the deprecated {legacy}= (PyTorch folds it into reduction=; dlfs takes reduction only)")
    if name == "nn.functional.mse_loss":
        loss = B.MeanSquaredError(reduction=kw.pop("reduction", "mean"))
    else:
        weight = _np(kw.pop("weight", None))
        loss = B.SoftmaxCrossEntropy(weight=weight, class_axis=1 if x.ndim > 1 else 0,
                                     probabilities=np.issubdtype(target.dtype, np.floating), **kw)
    value = loss.forward(x, target)
    # a reduced loss comes back as a Python float (the book's API); it was computed in the input's dtype
    out = np.asarray(value, dtype=x.dtype) if isinstance(value, float) else np.asarray(value)
    return Result(out, loss.backward(g if out.ndim else float(g)), {})


# --- the samples ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def op_db() -> dict[str, Any]:
    from torch.testing._internal.common_methods_invocations import op_db as db

    return {op.name: op for op in db if op.name in OPS and not op.variant_test_name}


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", OPS)
def test_every_opinfo_sample_is_expressible_and_agrees(op_db, name, dtype):
    op = op_db[name]
    samples = list(op.sample_inputs("cpu", getattr(torch, dtype)))
    assert samples, name
    counts = {"op": name, "dtype": dtype, "samples": len(samples), "expressible": 0, "passed": 0,
              "refused": [], "worst_rel": {"output": 0.0, "input_grad": 0.0, "param_grads": 0.0}}
    rng = np.random.default_rng(20190119)
    failed: set[int] = set()
    for i, sample in enumerate(samples):
        ref, g = reference(name, sample, lambda shape: rng.standard_normal(shape).astype(dtype))
        refused = False
        # the two backends' public API, and the book form where it is a separate one (conv, pooling)
        for backend in ("book", "scratch", "torch") if name in BOOK_FORMS else ("scratch", "torch"):
            what = f"{name} sample {i} [{backend}, {dtype}]"
            try:
                got = run_backend(namespace(backend), name, sample, g)
            except (Cannot, ValueError, TypeError) as e:  # a sample the API cannot express: said, and failed
                refused = True
                counts["refused"].append(f"{what}: {e}")
                continue
            try:
                for key, a, b in [("output", got.output, ref.output), ("input_grad", got.input_grad, ref.input_grad),
                                  *[("param_grads", got.param_grads.get(k), v) for k, v in ref.param_grads.items()]]:
                    assert a is not None, f"{what}: no gradient for a parameter"
                    c = compare(f"{what} {key}", np.asarray(a), np.asarray(b), dtype=dtype)
                    counts["worst_rel"][key] = max(counts["worst_rel"][key], c.max_rel)
                assert set(got.param_grads) == set(ref.param_grads), (what, sorted(got.param_grads))
            except AssertionError as e:
                failed.add(i)
                counts["refused"].append(str(e).splitlines()[0])
        counts["expressible"] += not refused
        counts["passed"] += not refused and i not in failed
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    (ARTEFACTS / f"opinfo-{name.split('.')[-1]}-{dtype}.json").write_text(json.dumps(counts, indent=1))
    assert counts["passed"] == counts["expressible"] == len(samples), counts["refused"][:5]

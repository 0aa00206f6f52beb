"""Input validation shared by both backends.

Every check raises ``ValueError`` (or ``TypeError``) whose message names the argument or layer, what was
expected and what came, so a learner never has to decode a bare NumPy broadcasting traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

import numpy as np


def describe(x: Any) -> str:
    """A short description of an array-like for error messages: ``array of shape (3, 4) and dtype float64``."""
    if hasattr(x, "shape") and hasattr(x, "dtype"):
        return f"array of shape {tuple(x.shape)} and dtype {x.dtype}"
    return f"{type(x).__name__} {x!r}"[:120]


def check_array(
    name: str,
    x: Any,
    ndim: int | Sequence[int] | None = None,
    finite: bool = True,
    numeric: bool = True,
) -> np.ndarray:
    """Return ``x`` as a NumPy array after checking its rank, numeric dtype and finiteness.

    ``name`` is the argument or layer name used in the message, e.g. ``"X_train"`` or ``"Dense(89)"``.
    """
    if hasattr(x, "detach") and hasattr(x, "numpy"):  # a torch tensor: validate its values, do not copy twice
        arr = x.detach().cpu().numpy()
    else:
        arr = np.asarray(x)
    if numeric and not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name}: expected a numeric array, got {describe(arr)}")
    if numeric and np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(complex_message(name, arr))
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            hint = " (reshape a single feature vector with x.reshape(1, -1))" if arr.ndim == 1 else ""
            raise ValueError(f"{name}: expected a {want} array, got {arr.ndim}-D shape {arr.shape}{hint}")
    if finite and np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all():
        n_nan = int(np.isnan(arr).sum())
        n_inf = int(np.isinf(arr).sum())
        raise ValueError(f"{name}: expected finite values, got {n_nan} NaN and {n_inf} inf in shape {arr.shape}")
    return arr


def complex_message(name: str, x: Any) -> str:
    """The message for a complex array where dlfs needs real numbers (it would otherwise train on the real part
    with only NumPy's ``ComplexWarning``, or fail inside torch)."""
    return (f"{name}: expected real numbers, got complex values ({describe(x)}); dlfs trains on real numbers: "
            f"pass x.real, or np.abs(x), explicitly")


def check_same_length(name_a: str, a: Any, name_b: str, b: Any) -> None:
    """``a`` and ``b`` must have the same number of rows (samples)."""
    if len(a) != len(b):
        raise ValueError(f"{name_a} and {name_b} must have the same number of samples, got {len(a)} and {len(b)}")


def check_positive_int(name: str, value: Any, maximum: int | None = None, max_name: str = "") -> int:
    """``value`` must be an int >= 1 (and <= ``maximum`` when given)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name}: expected a positive int, got {type(value).__name__} {value!r}")
    if value <= 0:
        raise ValueError(f"{name}: expected a positive int (>= 1), got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name}: expected at most {maximum}{' (' + max_name + ')' if max_name else ''}, got {value}")
    return int(value)


def check_probability(name: str, value: Any, low_inclusive: bool = True, high_inclusive: bool = False) -> float:
    """``value`` must be a number in [0, 1) by default."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__} {value!r}") from None
    lo_ok = v >= 0 if low_inclusive else v > 0
    hi_ok = v <= 1 if high_inclusive else v < 1
    if not (lo_ok and hi_ok and np.isfinite(v)):
        rng = ("[" if low_inclusive else "(") + "0, 1" + ("]" if high_inclusive else ")")
        raise ValueError(f"{name}: expected a value in {rng}, got {value}")
    return v


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """``value`` must be one of ``choices``; the message suggests the closest name."""
    if value not in choices:
        import difflib

        close = difflib.get_close_matches(str(value), list(choices), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"{name}: expected one of {list(choices)}, got {value!r}{hint}")
    return value


def check_dtype_name(name: str, value: Any) -> str:
    """``value`` must be ``"float32"`` or ``"float64"`` (or the NumPy dtype of one)."""
    s = np.dtype(value).name if not isinstance(value, str) else value
    return check_choice(name, s, ("float32", "float64"))


def check_callable(name: str, value: Any) -> Any:
    """``value`` must be callable (a function such as ``sigmoid``)."""
    if not callable(value):
        raise TypeError(f"{name}: expected a callable (a function of an array), got {describe(value)}")
    return value


def check_positive_float(name: str, value: Any, allow_zero: bool = False) -> float:
    """``value`` must be a finite number > 0 (a step size, a learning rate), or >= 0 with ``allow_zero``."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{name}: expected a positive number, got {type(value).__name__} {value!r}")
    if allow_zero and not (np.isfinite(value) and value >= 0):
        raise ValueError(f"{name}: expected a finite number >= 0, got {value}")
    if not allow_zero and not (np.isfinite(value) and value > 0):
        raise ValueError(f"{name}: expected a positive finite number, got {value}")
    return float(value)


def check_matmul_shapes(name_a: str, a: np.ndarray, name_b: str, b: np.ndarray) -> None:
    """``a @ b`` needs as many columns in ``a`` as rows in ``b``; the message names both dimensions."""
    if a.shape[-1] != b.shape[0]:
        raise ValueError(f"{name_a} @ {name_b}: {name_a} has {a.shape[-1]} columns (shape {tuple(a.shape)}) but "
                         f"{name_b} has {b.shape[0]} rows (shape {tuple(b.shape)}); the number of columns of "
                         f"{name_a} must equal the number of rows of {name_b}")


def check_sequence(owner: str, x: Any, features: int | None = None) -> None:
    """A recurrent layer's input must be (batch, time, features), non-empty, ``features`` wide once built.

    ``x`` is a NumPy array or a tensor (only its ``shape`` and ``ndim`` are read).
    """
    shape = tuple(x.shape)
    if len(shape) != 3:
        hint = " (add a time axis with x[:, None, :] for one step)" if len(shape) == 2 else ""
        raise ValueError(f"{owner}: expected a 3-D (batch, time, features) input, got {len(shape)}-D shape "
                         f"{shape}{hint}")
    if shape[0] == 0 or shape[1] == 0:
        raise ValueError(f"{owner}: expected at least one sample and one time step, got shape {shape}")
    if features is not None and shape[2] != features:
        raise ValueError(f"{owner}: expected {features} features per time step (the size it was built for), "
                         f"got {shape[2]}")


def check_step_input(owner: str, x: Any, features: int | None = None) -> None:
    """A recurrent node's input (one time step) must be (batch, features), ``features`` wide once built."""
    shape = tuple(x.shape)
    if len(shape) != 2:
        raise ValueError(f"{owner}: expected a 2-D (batch, features) input for one time step, got {len(shape)}-D "
                         f"shape {shape}")
    if features is not None and shape[1] != features:
        raise ValueError(f"{owner}: expected {features} features (the size it was built for), got {shape[1]}")


def check_state_shape(owner: str, name: str, s: Any, batch: int, hidden: int) -> None:
    """A recurrent node's incoming state ``h`` or ``c`` must be (batch, hidden)."""
    if tuple(s.shape) != (batch, hidden):
        raise ValueError(f"{owner}: expected {name} of shape {(batch, hidden)} (batch, hidden), got "
                         f"{tuple(s.shape)}")


# --- added by the input-validation audit (docs/validation.md) ---------------------------------------------------------

FLOAT_DTYPES = ("float32", "float64")
_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)


def check_layer_input(owner: Any, x: Any) -> Any:
    """A layer's (or loss's) input must be a float32 or float64 array; returns it as a NumPy array (a tensor as is).

    ``owner`` is the layer (its ``repr`` is built only when the check fails: this runs on every forward) or a name.
    Integer input is refused rather than cast: a layer creates its weights in its first input's dtype, so integer
    input would give integer (truncated) weights. NaN/inf are not checked here (a pass over every activation of
    every layer); ``NeuralNetwork.forward`` and ``Trainer.fit`` check the data once, at the boundary.
    """
    if type(x) is np.ndarray and (x.dtype == _F64 or x.dtype == _F32):  # the common case, ~0.1 us
        return x
    if hasattr(x, "detach") and hasattr(x, "dtype"):  # a torch tensor
        kind = str(x.dtype).replace("torch.", "")
    else:
        try:
            x = np.asarray(x)
        except ValueError as e:  # a ragged nested list
            raise ValueError(f"{owner if isinstance(owner, str) else repr(owner)}: expected a rectangular array, "
                             f"got {type(x).__name__} ({e})") from None
        kind = x.dtype.name
    if kind not in FLOAT_DTYPES:
        name = owner if isinstance(owner, str) else repr(owner)
        if kind.startswith("complex"):
            raise TypeError(complex_message(name, x))
        numeric = kind.startswith(("int", "uint", "bool"))
        hint = (" (cast it with x.astype(np.float32): a layer creates its weights in its input's dtype)" if numeric
                else " (numbers, not strings or objects)")
        raise TypeError(f"{name}: expected a float32 or float64 array, got {describe(x)}{hint}")
    return x


def check_forward_called(owner: Any, called: bool) -> None:
    """``backward`` uses what ``forward`` stored: a clear error instead of an ``AttributeError``."""
    if not called:
        name = owner if isinstance(owner, str) else repr(owner)
        raise RuntimeError(f"{name}.backward: call forward first (backward uses the input and output that forward "
                           f"stores)")


def check_seed(name: str, value: Any) -> int:
    """A seed must be a non-negative int (what ``np.random.default_rng`` accepts)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{name}: expected a non-negative int seed, got {type(value).__name__} {value!r}")
    if value < 0:
        raise ValueError(f"{name}: expected a non-negative int seed, got {value}")
    return int(value)


def check_flag(name: str, value: Any) -> bool:
    """``value`` must be True or False (``bool("no")`` is True: a string must not pass silently)."""
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name}: expected True or False, got {type(value).__name__} {value!r}")
    return bool(value)


def check_instance(name: str, value: Any, cls: type | tuple[type, ...], expected: str) -> Any:
    """``value`` must be an instance of ``cls``; ``expected`` says what in words (``"a scratch layer"``).

    An object of the other backend is named with its package, the likeliest mistake (a torch_impl loss in a scratch
    network).
    """
    if not isinstance(value, cls):
        package = type(value).__module__.split(".")[0]
        got = f"{value!r} from {package}" if package in ("scratch", "torch_impl") else describe(value)
        raise TypeError(f"{name}: expected {expected}, got {got}")
    return value


# --- checks a layer pair shares: each twin calls the same one, so bad input reads the same in both -------

def check_generator(name: str, rng: Any) -> Any:
    """``rng`` must be a ``numpy.random.Generator`` or None (a dropout layer's mask stream)."""
    if rng is not None:
        check_instance(name, rng, np.random.Generator,
                       "a numpy.random.Generator (np.random.default_rng(seed)) or None")
    return rng


def check_layers(layers: Any, layer_cls: type | tuple[type, ...], example: str) -> list:
    """A network's ``layers``: a non-empty list or tuple of this backend's layers (``example`` names one
    in words, e.g. "a scratch layer such as Dense(4) or Tanh()"); returns them as a list."""
    check_instance("layers", layers, list | tuple, "a list of layers such as [Dense(4), Dense(1)]")
    if not layers:
        raise ValueError("layers: expected at least one layer, got an empty list")
    for i, layer in enumerate(layers):
        check_instance(f"layers[{i}]", layer, layer_cls, example)
    return list(layers)


def check_dense_input(owner: Any, shape: tuple[int, ...], width: int | None) -> None:
    """A dense layer's input must be (batch, features), with ``width`` features once it is built."""
    if len(shape) != 2:
        raise ValueError(f"{owner!r}: expected a 2-D (batch, features) input, got {len(shape)}-D shape "
                         f"{tuple(shape)}" + (" (use x.reshape(1, -1) for one sample)" if len(shape) == 1
                                              else ""))
    if width is not None and shape[1] != width:
        raise ValueError(f"{owner!r}: expected input width {width} (the width it was built for), got "
                         f"{shape[1]}")


def check_regression_data(X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Linear regression's data: X (n, d) and y (n,) or (n, 1); returns X and y as (n, 1)."""
    X = check_array("X", X, ndim=2)
    y = check_array("y", y, ndim=(1, 2))
    if y.ndim == 2 and y.shape[1] != 1:  # the result is a Dense(1) state dict: one target column
        raise ValueError(f"y: expected (n,) or (n, 1) targets, got shape {y.shape}")
    y = y.reshape(len(y), 1)
    check_same_length("X", X, "y", y)
    return X, y


# --- out of memory: name the layer -----------------------------------------------------------------------

class LayerMemoryError(MemoryError):
    """Out of memory in a layer's forward or backward pass; the message names the layer (its class and its
    position in the network) and the allocation that failed. ``index`` is the layer's position (None when the
    layer is not known, or used on its own); ``original`` the failed allocation's own message."""

    def __init__(self, message: str, index: int | None, original: str) -> None:
        super().__init__(message)
        self.index, self.original = index, original


def is_out_of_memory(e: BaseException) -> bool:
    """NumPy's ``MemoryError``, torch's CPU allocator (a ``RuntimeError`` "can't allocate memory") or its
    ``OutOfMemoryError`` (CUDA)."""
    if isinstance(e, MemoryError) or type(e).__name__ == "OutOfMemoryError":
        return True
    return isinstance(e, RuntimeError) and "can't allocate memory" in str(e)


def _failing_layer(e: BaseException, candidates: Sequence[Sequence[Any]]) -> int | None:
    """The position of the layer whose code raised ``e``: the outermost frame of its traceback whose ``self``
    is ``candidates[k][i]`` for some k (the layers, their torch modules). Read only when it failed."""
    where = {id(obj): i for group in candidates for i, obj in enumerate(group)}
    tb = e.__traceback__
    while tb is not None:
        owner = tb.tb_frame.f_locals.get("self")
        if owner is not None and id(owner) in where:
            return where[id(owner)]
        tb = tb.tb_next
    return None


def out_of_memory(e: BaseException, what: str, layers: Sequence[Any], *modules: Sequence[Any],
                  alone: bool = False) -> LayerMemoryError:
    """The error to raise instead of ``e``, an out-of-memory (``is_out_of_memory``) in ``what`` (``"the forward
    pass"``, ``"a training step"``) of one of ``layers`` (a network's, in order; ``modules``: the same layers'
    torch modules, which the torch backend calls directly). ``alone``: ``layers`` is one layer used on its own."""
    if isinstance(e, LayerMemoryError) and (e.index is not None or alone):
        return e  # named already, by the network (or, for a layer alone, by the layer)
    original = e.original if isinstance(e, LayerMemoryError) else f"{type(e).__name__}: {str(e)[:300]}"
    index = None if alone else _failing_layer(e, (layers, *modules))
    if alone:
        where = f"{what} of {layers[0]!r}"
    elif index is not None:
        where = f"{what} of layer {index} of {len(layers)} in the network, {layers[index]!r}"
    else:
        where = f"{what} of the network (in autograd's backward: no single layer to name)"
    return LayerMemoryError(f"out of memory in {where}: {original}; use a smaller batch_size, or a smaller layer",
                            index, original)


def unbuilt_for_loading(first: Any) -> RuntimeError:
    """The error of ``load_state_dict`` on a network that has not seen an input and whose file does not give
    the input's shape (both backends); ``first`` is its first layer."""
    return RuntimeError(
        f"NeuralNetwork.load_state_dict (dlfs.load_weights): this network has not seen an input yet, so its "
        f"layers have no parameters to load into, and the file's shapes do not give the input's shape (the first "
        f"layer is {first!r}); build it with one batch of your input first, net.forward(X[:1], training=False), "
        f"then call dlfs.load_weights(net, path) again")


class naming_the_layer(AbstractContextManager):  # noqa: N801 -- a with-statement's word, as contextlib's
    """Run the body; an out-of-memory error in it (``is_out_of_memory``) is raised as ``out_of_memory(e, what,
    layers, *modules, alone=alone)``, which names the layer. Any other error passes through unchanged. Reusable:
    the training loop makes one per fit and enters it every step."""

    def __init__(self, what: str, layers: Sequence[Any], *modules: Sequence[Any], alone: bool = False) -> None:
        self.what, self.layers, self.modules, self.alone = what, layers, modules, alone

    def __exit__(self, kind: Any, e: BaseException | None, traceback: Any) -> None:
        if isinstance(e, MemoryError | RuntimeError) and is_out_of_memory(e):
            raise out_of_memory(e, self.what, self.layers, *self.modules, alone=self.alone) from None

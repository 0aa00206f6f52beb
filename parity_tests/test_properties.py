"""Property-based parity: hypothesis draws shapes and hyper-parameters, ``check_layer_parity`` compares the backends.

The hand-picked cases of the other parity files are a few points each; here every layer of both ``__all__`` that
maps an array to an array is checked over a space of batches, widths, kernels, strides, paddings, sequence lengths
and hidden sizes, with random non-zero weights and biases and a random upstream gradient (the helper's), in float64
(the design's rtol 1e-9) and float32 (the tolerance table's entry). A few properties also run the scratch backward
against finite differences.

Every test is ``derandomize=True`` (a seed fixed by the test's name: the same examples on every run, so a failure
reproduces and ``make test`` cannot flake) with a bounded number of examples on small shapes, so this file stays
within a few seconds. ``make hypothesis-long`` (``DLFS_HYPOTHESIS_PROFILE=long``) runs ten times as many examples
(``examples(n)`` below); the profiles are registered in ``conftest.py``. ``assume`` and the strategies keep the
combinations valid (a window never larger than the padded input, ``padding="same"`` only with stride 1).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from study.parity import check_finite_differences, check_layer_parity


def examples(n: int) -> int:
    """``n`` examples under the default profile (max_examples 100); ten times as many under ``make hypothesis-long``
    (the ``long`` profile, max_examples 1000, selected by ``DLFS_HYPOTHESIS_PROFILE=long`` in ``conftest.py``)."""
    return max(1, n * settings().max_examples // 100)


def budget(n: int) -> settings:
    """A fixed seed, ``examples(n)`` examples, no per-example deadline (a busy 2-core box is not a slow layer)."""
    return settings(derandomize=True, max_examples=examples(n), deadline=None, database=None)


DTYPES = st.sampled_from(["float64", "float64", "float32"])  # float64 (rtol 1e-9) twice as often as float32
SEEDS = st.integers(0, 2**16)
ACTIVATIONS = ["sigmoid", "tanh", "relu", "linear"]


def _check(concept: str, build: Any, shape: tuple[int, ...], dtype: str, seed: int, **kw: Any) -> None:
    """``check_layer_parity`` raises on any difference beyond the tolerance; the report must hold real comparisons."""
    report = check_layer_parity(concept, build, shape, dtype, seed=seed, **kw)
    assert [c.name for c in report.comparisons][:2] == ["output", "input_grad"]
    assert all(np.isfinite(c.max_abs) for c in report.comparisons)


# --- dense layers and activations -------------------------------------------------------------------------------------

@budget(60)
@given(batch=st.integers(1, 5), width_in=st.integers(1, 7), width_out=st.integers(1, 7),
       activation=st.sampled_from(ACTIVATIONS), weight_init=st.sampled_from(["standard", "glorot"]),
       dtype=DTYPES, seed=SEEDS)
def test_dense(batch, width_in, width_out, activation, weight_init, dtype, seed):
    _check("Dense", lambda B: B.Dense(width_out, activation, weight_init=weight_init), (batch, width_in), dtype, seed)


@budget(30)
@given(batch=st.integers(1, 6), width_in=st.integers(1, 6), width_out=st.integers(1, 6),
       p=st.sampled_from([0.1, 0.5, 0.8]), seed=SEEDS)
def test_dense_dropout_in_training(batch, width_in, width_out, p, seed):
    """Training mode: both backends draw the same keep-masks from the same NumPy stream."""
    _check("Dense dropout", lambda B: B.Dense(width_out, "tanh", dropout=p), (batch, width_in), "float64", seed,
           training=True)


@budget(30)
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple), p=st.sampled_from([0.0, 0.2, 0.5, 0.9]),
       training=st.booleans(), dtype=DTYPES, seed=SEEDS)
def test_dropout_layer(shape, p, training, dtype, seed):
    """A Dropout layer of its own, any rank: the same masks in training, the identity at inference."""
    _check("Dropout", lambda B: B.Dropout(p), shape, dtype, seed, training=training)


@budget(60)
@given(name=st.sampled_from(["Sigmoid", "Tanh", "ReLU", "Linear"]),
       shape=st.lists(st.integers(1, 5), min_size=1, max_size=4).map(tuple),
       scale=st.sampled_from([0.1, 1.0, 10.0, 40.0]), zeros=st.booleans(), dtype=DTYPES, seed=SEEDS)
def test_activation(name, shape, scale, zeros, dtype, seed):
    """Any rank, saturating inputs (|x| up to ~100), and exact zeros (ReLU's kink: derivative 0 there, as PyTorch)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * scale
    if zeros:
        x[rng.random(shape) < 0.3] = 0.0
    _check(name, lambda B: getattr(B, name)(), shape, dtype, seed, x=x, op="activation")


# --- losses -----------------------------------------------------------------------------------------------------------

class LossAsLayer:
    """A loss as a parameter-free layer, so that ``check_layer_parity`` compares it like any other op:
    ``forward(z)`` -> ``[[L(z, target)]]`` (1, 1); ``backward(g)`` -> ``g * dL/dz`` (the shape of z)."""

    def __init__(self, loss: Any, target: np.ndarray) -> None:
        self.loss, self.target = loss, target

    def forward(self, z: np.ndarray, training: bool = False) -> np.ndarray:
        return np.array([[self.loss.forward(z, self.target)]], dtype=z.dtype)

    def backward(self, output_grad: np.ndarray) -> np.ndarray:
        return self.loss.backward() * output_grad[0, 0]

    def state_dict(self) -> dict[str, np.ndarray]:
        return {}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        assert not state

    def grad_dict(self) -> dict[str, np.ndarray]:
        return {}


@budget(40)
@given(batch=st.integers(1, 6), width=st.integers(1, 6), dtype=DTYPES, seed=SEEDS)
def test_mean_squared_error(batch, width, dtype, seed):
    y = np.random.default_rng(seed + 7).standard_normal((batch, width)).astype(dtype)
    _check("MeanSquaredError", lambda B: LossAsLayer(B.MeanSquaredError(), y), (batch, width), dtype, seed)


@budget(60)
@given(batch=st.integers(1, 6), classes=st.integers(2, 6), scale=st.sampled_from([0.1, 3.0, 100.0, 1000.0]),
       one_hot=st.booleans(), dtype=DTYPES, seed=SEEDS)
def test_softmax_cross_entropy(batch, classes, scale, one_hot, dtype, seed):
    """Logits up to +-~3000: the log-sum-exp keeps both backends finite and equal; one class is allowed (L = 0)."""
    rng = np.random.default_rng(seed + 7)
    labels = rng.integers(0, classes, batch)
    y = np.eye(classes)[labels] if one_hot else labels
    z = rng.standard_normal((batch, classes)) * scale
    _check("SoftmaxCrossEntropy", lambda B: LossAsLayer(B.SoftmaxCrossEntropy(), y), z.shape, dtype, seed, x=z)


# --- convolution, pooling, reshaping ----------------------------------------------------------------------------------

@st.composite
def conv_cases(draw: Any) -> tuple[dict[str, Any], tuple[int, int, int, int]]:
    """Conv2D keyword arguments and an input shape (N, C, H, W) on which the window fits."""
    n, c, o = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    padding = draw(st.sampled_from(["same", "valid", 0, 1, 2]))
    pad = 0 if isinstance(padding, str) else padding  # zeros on each side ("same" is handled apart)
    if padding == "same":  # the output keeps the input's size: any kernel fits, stride must be 1
        kh, kw, stride = draw(st.integers(1, 4)), draw(st.integers(1, 4)), (1, 1)
    else:
        kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
        stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        assume(kh <= h + 2 * pad and kw <= w + 2 * pad)  # the window fits in the padded input
    kwargs = dict(out_channels=o, kernel_size=kh if kh == kw else (kh, kw),
                  stride=stride[0] if stride[0] == stride[1] else stride, padding=padding,
                  bias=draw(st.booleans()), activation=draw(st.sampled_from(ACTIVATIONS)),
                  weight_init=draw(st.sampled_from(["standard", "glorot"])), flatten=draw(st.booleans()))
    return kwargs, (n, c, h, w)


@budget(80)
@given(case=conv_cases(), dtype=DTYPES, seed=SEEDS)
def test_conv2d(case, dtype, seed):
    kwargs, shape = case
    _check("Conv2D", lambda B: B.Conv2D(**kwargs), shape, dtype, seed)


@budget(15)
@given(case=conv_cases(), seed=SEEDS)
def test_conv2d_finite_differences(case, seed):
    kwargs, shape = case
    check_finite_differences("Conv2D", lambda B: B.Conv2D(**kwargs), shape, seed=seed)


@st.composite
def pool_cases(draw: Any) -> tuple[tuple[int, int], tuple[int, int] | None, tuple[int, int, int, int]]:
    """(kernel, stride or None, input shape): the kernel fits the input (pooling has no padding)."""
    n, c, h, w = draw(st.integers(1, 3)), draw(st.integers(1, 3)), draw(st.integers(1, 7)), draw(st.integers(1, 7))
    kernel = (draw(st.integers(1, h)), draw(st.integers(1, w)))
    stride = draw(st.none() | st.tuples(st.integers(1, 3), st.integers(1, 3)))
    return kernel, stride, (n, c, h, w)


@budget(60)
@given(case=pool_cases(), kind=st.sampled_from(["MaxPool2D", "AvgPool2D"]), ties=st.booleans(), dtype=DTYPES,
       seed=SEEDS)
def test_pooling(case, kind, ties, dtype, seed):
    """With ``ties`` the input holds few distinct values, so max windows have several maxima: both backends must send
    the gradient to the same (first, row-major) one."""
    kernel, stride, shape = case
    rng = np.random.default_rng(seed)
    x = rng.integers(-2, 3, shape).astype(float) if ties else rng.standard_normal(shape)
    _check(kind, lambda B: getattr(B, kind)(kernel, stride), shape, dtype, seed, x=x)


@st.composite
def reshape_cases(draw: Any) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """An input shape (N, d1, ...) and a target per-sample shape with the same number of values."""
    shape = (draw(st.integers(1, 3)), *draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    size = int(np.prod(shape[1:]))
    target: list[int] = []
    rest = size
    for _ in range(draw(st.integers(0, 2))):  # split the size into factors, the last one takes what is left
        divisors = [d for d in range(1, rest + 1) if rest % d == 0]
        d = draw(st.sampled_from(divisors))
        target.append(d)
        rest //= d
    return shape, (*target, rest)


@budget(40)
@given(case=reshape_cases(), flatten=st.booleans(), dtype=DTYPES, seed=SEEDS)
def test_flatten_and_reshape(case, flatten, dtype, seed):
    shape, target = case
    build = (lambda B: B.Flatten()) if flatten else (lambda B: B.Reshape(target))
    _check("Flatten" if flatten else "Reshape", build, shape, dtype, seed)


# --- recurrent layers -------------------------------------------------------------------------------------------------

RECURRENT = {  # name -> (hidden size, weight_init) -> build(B)
    "RNNLayer": lambda h, init: (lambda B: B.RNNLayer(h, init)),
    "GRULayer torch": lambda h, init: (lambda B: B.GRULayer(h, init, gru="torch")),
    "GRULayer classic": lambda h, init: (lambda B: B.GRULayer(h, init, gru="classic")),
    "LSTMLayer": lambda h, init: (lambda B: B.LSTMLayer(h, init)),
    "RNNLinear": lambda h, init: (lambda B: B.RNNLinear(h, init)),
}


@budget(100)
@given(name=st.sampled_from(sorted(RECURRENT)), batch=st.integers(1, 4), steps=st.integers(1, 8),
       features=st.integers(1, 5), hidden=st.integers(1, 5), weight_init=st.sampled_from(["standard", "glorot"]),
       dtype=DTYPES, seed=SEEDS)
def test_recurrent_layer(name, batch, steps, features, hidden, weight_init, dtype, seed):
    """Sequence length, batch, input width and hidden size drawn independently (H == V happens, and H != V)."""
    _check(name, RECURRENT[name](hidden, weight_init), (batch, steps, features), dtype, seed)


@budget(15)
@given(name=st.sampled_from(sorted(RECURRENT)), batch=st.integers(1, 2), steps=st.integers(1, 4),
       features=st.integers(1, 3), hidden=st.integers(1, 3), seed=SEEDS)
def test_recurrent_layer_finite_differences(name, batch, steps, features, hidden, seed):
    check_finite_differences(name, RECURRENT[name](hidden, "glorot"), (batch, steps, features), seed=seed)


# --- a network of them ------------------------------------------------------------------------------------------------

@budget(30)
@given(batch=st.integers(1, 3), channels=st.integers(1, 2), hw=st.integers(4, 7), filters=st.integers(1, 3),
       kernel=st.integers(1, 3), pool=st.integers(1, 2), hidden=st.integers(1, 5), classes=st.integers(2, 4),
       dtype=DTYPES, seed=SEEDS)
def test_conv_pool_dense_network(batch, channels, hw, filters, kernel, pool, hidden, classes, dtype, seed):
    """Conv2D -> MaxPool2D -> Flatten -> Dense -> Dense in a NeuralNetwork: the layers compose in both backends."""
    def build(B: Any) -> Any:
        return B.NeuralNetwork([B.Conv2D(filters, kernel, activation="relu"), B.MaxPool2D(pool), B.Flatten(),
                                B.Dense(hidden, "tanh"), B.Dense(classes)], B.SoftmaxCrossEntropy(), seed=seed,
                               dtype=dtype)

    _check("conv-pool-dense network", build, (batch, channels, hw, hw), dtype, seed)

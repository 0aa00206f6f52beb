"""The book forms of chapter 5's Conv2D, MaxPool2D and AvgPool2D (``scratch/conv.py``,
``scratch/pooling.py``) and of chapter 7's exact t-SNE (``scratch/tsne.py``) held to their fast
forms (``scratch/fast/``) and to PyTorch: book = fast = torch.

Layers: output, input gradient and every parameter gradient, float64 (rtol 1e-9) and float32 (the
table's default), batch 1 and > 1, C != O and H != W, random non-zero weights and biases, a random
upstream gradient; "same" and strided/padded/rectangular-kernel convolutions with and without
bias, dilated and grouped ones, an unbatched image; non-overlapping, overlapping, tied, padded,
dilated and ceil_mode pooling windows; the book forms against finite differences (the grid of
every option is in ``test_conv_options.py``). t-SNE: the squared distances, the conditional
and joint probabilities (same precisions), the Student-t affinities, KL(P || Q) and its gradient
(analytic in both scratch forms, autograd in torch) in float64 and float32, the book gradient
against finite differences, and a short run through the exaggeration switch, book against fast.
The loop convolution is slow: images are a few pixels wide.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_digits

import scratch
import scratch.conv
import scratch.fast.conv
import scratch.fast.pooling
import scratch.fast.tsne
import scratch.pooling
import scratch.tsne
import torch_impl.tsne
from study.parity import (
    ParityReport,
    check_finite_differences,
    check_layer_parity,
    compare,
    namespace,
    numerical_gradient,
)

DTYPES = ["float64", "float32"]
# the two sides of each comparison, the expected one first: the book form against each other form
OTHERS = [("book", "scratch"), ("book", "torch")]
BOOK, FAST = namespace("book"), namespace("scratch")


def test_the_book_namespace_serves_the_book_forms():
    """Every comparison below is vacuous unless "book" and "scratch" name different classes."""
    pairs = [(scratch.conv, scratch.fast.conv), (scratch.pooling, scratch.fast.pooling),
             (scratch.tsne, scratch.fast.tsne)]
    for book, fast in pairs:
        assert book.__all__ == fast.__all__
        for name in book.__all__:
            assert getattr(book, name) is not getattr(fast, name), name
            if name in scratch.__all__:
                assert getattr(BOOK, name) is getattr(book, name), f"scratch.book.{name}"
                assert getattr(FAST, name) is getattr(fast, name), f"scratch.{name}"
    assert BOOK.tsne is scratch.tsne and scratch.TSNE is scratch.fast.tsne.TSNE


def test_the_fast_layers_reuse_the_book_plumbing():
    """The fast classes are the book's with only the operation replaced: one set of arguments,
    checks and draws."""
    pairs = [(scratch.conv.Conv2D, scratch.fast.conv.Conv2D),
             (scratch.pooling.MaxPool2D, scratch.fast.pooling.MaxPool2D),
             (scratch.pooling.AvgPool2D, scratch.fast.pooling.AvgPool2D),
             (scratch.tsne.TSNE, scratch.fast.tsne.TSNE)]
    for book, fast in pairs:
        assert issubclass(fast, book) and "__init__" not in vars(fast), fast
    x = np.zeros((1, 2, 5, 6))
    for book, fast in pairs[:3]:
        args = (2, 3) if book is scratch.conv.Conv2D else (2,)
        layer_b, layer_f = book(*args), fast(*args)
        layer_b.forward(x), layer_f.forward(x)
        assert type(layer_b.operations[0]) is not type(layer_f.operations[0])


# --- Conv2D --------------------------------------------------------------------------------
# name -> (Conv2D keyword arguments, input shape (N, C, H, W))
CONV_CASES = {
    "same_bias": (dict(out_channels=3, kernel_size=3), (2, 2, 5, 4)),
    "same_no_bias_batch1": (dict(out_channels=2, kernel_size=3, bias=False), (1, 3, 4, 5)),
    "strided_rect_tanh_bias": (dict(out_channels=3, kernel_size=(2, 3), stride=2, padding=1,
                                    activation="tanh"), (3, 2, 5, 6)),
    "strided_rect_tanh_no_bias_batch1": (dict(out_channels=2, kernel_size=(2, 3), stride=2,
                                              padding=1, activation="tanh", bias=False),
                                         (1, 3, 6, 5)),
    "dilated_grouped_same": (dict(out_channels=4, kernel_size=(2, 3), padding="same",
                                  dilation=(2, 1), groups=2), (2, 2, 4, 5)),
    "unbatched_strided_dilated": (dict(out_channels=2, kernel_size=2, stride=(1, 2),
                                       padding=(1, 0), dilation=2, bias=False), (3, 5, 6)),
}


@pytest.mark.parametrize("forms", OTHERS, ids=lambda f: f[1])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", sorted(CONV_CASES))
def test_conv2d_book_parity(case, dtype, forms):
    kwargs, shape = CONV_CASES[case]
    report = check_layer_parity(f"Conv2D {case} book vs {forms[1]}",
                                lambda B: B.Conv2D(**kwargs), shape, dtype, forms=forms)
    params = ["grad:B", "grad:W"] if kwargs.get("bias", True) else ["grad:W"]
    assert [c.name for c in report.comparisons] == ["output", "input_grad", *params]


@pytest.mark.parametrize("case", ["same_bias", "strided_rect_tanh_bias", "dilated_grouped_same"])
def test_conv2d_book_finite_differences(case):
    kwargs, shape = CONV_CASES[case]
    check_finite_differences(f"Conv2D book {case}", lambda B: B.Conv2D(**kwargs), shape,
                             form="book")


def test_conv2d_same_seed_same_weights_in_both_forms():
    """One seed, the same draws: a book-form network starts where the fast one does, bit for bit."""
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 4)).astype("float32")
    states = []
    for B in (BOOK, FAST):
        net = B.NeuralNetwork([B.Conv2D(3, 3, weight_init="glorot", dropout=0.3, flatten=True),
                               B.Dense(2)], B.MeanSquaredError(), seed=5, dtype="float32")
        out = net.forward(x, training=True)  # the same dropout masks too
        states.append((net.state_dict(), out))
    for k in states[0][0]:
        np.testing.assert_array_equal(states[0][0][k], states[1][0][k], err_msg=k)
    compare("training output (dropout)", states[0][1], states[1][1])


# --- pooling -------------------------------------------------------------------------------
POOL_CASES = {
    "max2": (lambda B: B.MaxPool2D(2), (2, 3, 6, 5)),  # the last column is dropped
    "max_overlap_rect": (lambda B: B.MaxPool2D((3, 2), stride=(2, 1)), (1, 2, 7, 6)),
    "avg2_batch1": (lambda B: B.AvgPool2D(2), (1, 2, 4, 6)),
    "avg_overlap": (lambda B: B.AvgPool2D(3, stride=1), (3, 2, 5, 6)),
    "max_padded_dilated_ceil": (lambda B: B.MaxPool2D(3, stride=2, padding=1, dilation=(1, 2),
                                                      ceil_mode=True), (2, 2, 6, 7)),
    "avg_padded_ceil_not_counting_pad": (lambda B: B.AvgPool2D(3, stride=2, padding=1,
                                                               ceil_mode=True,
                                                               count_include_pad=False),
                                         (1, 2, 6, 7)),
    "avg_unbatched_divisor_override": (lambda B: B.AvgPool2D(2, stride=1, divisor_override=5),
                                       (2, 4, 5)),
}


@pytest.mark.parametrize("forms", OTHERS, ids=lambda f: f[1])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", sorted(POOL_CASES))
def test_pooling_book_parity(case, dtype, forms):
    build, shape = POOL_CASES[case]
    report = check_layer_parity(f"pooling {case} book vs {forms[1]}", build, shape, dtype,
                                forms=forms)
    assert [c.name for c in report.comparisons] == ["output", "input_grad"]


@pytest.mark.parametrize("forms", OTHERS, ids=lambda f: f[1])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("stride", [None, 1])
def test_max_pool_book_ties_go_to_the_first_maximum(stride, dtype, forms):
    """0/1 images (almost every window tied, one plane all ties): every form routes each window's
    gradient to the same pixel, its first maximum in row-major order."""
    x = np.random.default_rng(1).integers(0, 2, size=(2, 3, 6, 7)).astype(dtype)
    x[1, 2] = 1.0
    report = check_layer_parity(f"MaxPool2D ties book vs {forms[1]}",
                                lambda B: B.MaxPool2D(2, stride), x.shape, dtype, x=x, forms=forms)
    # a gradient sent to another tied pixel would be an O(1) error; overlapping windows only
    # reorder the adds
    assert report.worst()[0] < (1e-5 if dtype == "float32" else 1e-14)
    layer = scratch.pooling.MaxPool2D(2, stride)
    dx = layer.backward(np.ones_like(layer.forward(x)))
    if stride is None:  # all-ties windows: the top-left pixel of each takes the whole gradient
        np.testing.assert_array_equal(dx[1, 2, :, :6], np.tile([[1, 0], [0, 0]], (3, 3)))
        assert not dx[1, 2, :, 6].any()  # the dropped column


@pytest.mark.parametrize("case", sorted(POOL_CASES))
def test_pooling_book_finite_differences(case):
    build, shape = POOL_CASES[case]
    check_finite_differences(f"pooling book {case}", build, shape, form="book")


@pytest.mark.parametrize("form", [BOOK, FAST], ids=["book", "fast"])
def test_book_layers_refuse_bad_input_as_the_fast_ones(form):
    with pytest.raises(ValueError, match=r"Conv2D\(2, kernel_size=5\): the 5x5 window does not "
                                         r"fit in the 4x6 input"):
        form.Conv2D(2, 5, padding="valid").forward(np.zeros((1, 1, 4, 6)))
    with pytest.raises(ValueError, match=r"AvgPool2D\(\(2, 5\)\): the 2x5 window does not fit"):
        form.AvgPool2D((2, 5)).forward(np.zeros((1, 1, 4, 4)))
    with pytest.raises(ValueError, match=r"stride: expected a positive int \(>= 1\), got 0"):
        form.MaxPool2D(2, stride=0)
    with pytest.raises(ValueError, match=r"MaxPool2D padding: expected at most half the kernel"):
        form.MaxPool2D(3, padding=2)
    with pytest.raises(ValueError, match=r"Conv2D groups: expected a divisor of out_channels=3"):
        form.Conv2D(3, 3, groups=2)


# --- t-SNE ---------------------------------------------------------------------------------
N = 300
X_DIGITS = load_digits().data[:N]  # (300, 64), pixel values 0..16
TSNE_FORMS = [("fast", scratch.fast.tsne), ("torch", torch_impl.tsne)]


def _report(name: str, dtype: str, comparisons: list) -> None:
    report = ParityReport(name, dtype)
    for c in comparisons:
        report.add(c)


@pytest.fixture(scope="module")
def P_digits() -> np.ndarray:
    return scratch.fast.tsne.joint_probabilities(
        scratch.fast.tsne.pairwise_squared_distances(X_DIGITS), 30.0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_tsne_book_probabilities(dtype):
    """Distances, then the joint probabilities from the same distances: the per-point search of
    the book form takes the vectorised search's steps and lands on the same precisions."""
    X = X_DIGITS.astype(dtype)
    D_b = scratch.tsne.pairwise_squared_distances(X)
    D = scratch.fast.tsne.pairwise_squared_distances(X)
    P_b = scratch.tsne.joint_probabilities(D, 30.0)
    assert P_b.dtype == np.dtype(dtype) and np.abs(P_b - P_b.T).max() == 0
    # digits are integers, so their distances are exact in every form; random floats are not
    Z = (2.0 * np.random.default_rng(5).standard_normal((40, 7)) + 1.0).astype(dtype)
    D_b_random = scratch.tsne.pairwise_squared_distances(Z)
    comparisons = []
    for name, mod in TSNE_FORMS:
        comparisons.append(compare(f"output D {name}", mod.pairwise_squared_distances(X), D_b))
        comparisons.append(compare(f"output D {name} (random)",
                                   mod.pairwise_squared_distances(Z), D_b_random))
        comparisons.append(compare(f"output P {name}", mod.joint_probabilities(D, 30.0), P_b))
    Pc_b, beta_b = scratch.tsne.conditional_probabilities(D, 30.0)
    for name, mod in TSNE_FORMS:
        Pc, beta = mod.conditional_probabilities(D, 30.0)
        comparisons.append(compare(f"output P_cond {name}", Pc, Pc_b))
        comparisons.append(compare(f"output beta {name}", beta, beta_b))
    _report("tsne book probabilities", dtype, comparisons)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n_components,dof", [(2, 1.0), (3, 2.0), (2, 0.5)])
def test_tsne_book_affinities_kl_and_gradient(P_digits, dtype, n_components, dof):
    """On a spread-out embedding (distances of order 1-100 exercise the heavy tail)."""
    Y = (3.0 * np.random.default_rng(3).standard_normal((N, n_components))).astype(dtype)
    P = P_digits.astype(dtype)
    Q_b = scratch.tsne.student_t_affinities(Y, dof)
    kl_b, grad_b = scratch.tsne.kl_divergence(P, Y, dof)
    assert Q_b.dtype == grad_b.dtype == np.dtype(dtype) and kl_b > 0.5
    comparisons = []
    for name, mod in TSNE_FORMS:
        kl, grad = mod.kl_divergence(P, Y, dof)
        comparisons.append(compare(f"output Q {name}", mod.student_t_affinities(Y, dof), Q_b))
        comparisons.append(compare(f"output KL {name}", np.array(kl), np.array(kl_b),
                                   dtype=dtype, check_dtype=False))
        comparisons.append(compare(f"grad:Y {name}", grad, grad_b))
    _report(f"tsne book KL (k={n_components}, dof={dof})", dtype, comparisons)


def test_tsne_book_exaggerated_gradient(P_digits):
    """Early exaggeration multiplies p_ij in the gradient: the book passes 12 P to the paper's
    formula, the fast form scales the attraction term."""
    Y = 1e-2 * np.random.default_rng(2).standard_normal((N, 2))
    grad_b = scratch.tsne._gradient(12.0 * P_digits, Y, 1.0)
    _, grad_f = scratch.fast.tsne._kl_gradient(P_digits, Y, 1.0, exaggeration=12.0)
    _report("tsne book exaggerated gradient", "float64", [compare("grad:Y fast", grad_f, grad_b)])


@pytest.mark.parametrize("dof", [1.0, 2.0, 0.5])
def test_tsne_book_gradient_finite_differences(dof):
    """The paper's gradient against centred differences of the book's own cost (25 points, k = 3),
    and the cost against KL computed from Q."""
    rng = np.random.default_rng(4)
    X, Y = rng.standard_normal((25, 5)), rng.standard_normal((25, 3))
    P = scratch.tsne.joint_probabilities(scratch.tsne.pairwise_squared_distances(X), 5.0)
    kl, grad = scratch.tsne.kl_divergence(P, Y, dof)
    num = numerical_gradient(lambda: scratch.tsne.kl_divergence(P, Y, dof)[0], Y)
    compare(f"grad (dof={dof})", grad, num, "finite_difference", "float64")
    Q, off = scratch.tsne.student_t_affinities(Y, dof), ~np.eye(25, dtype=bool)
    assert abs(kl - np.sum(P[off] * np.log(P[off] / Q[off]))) < 1e-12


@pytest.mark.parametrize("dtype,n_iter", [("float64", 40), ("float32", 10)])
def test_tsne_book_run_matches_fast(monkeypatch, dtype, n_iter):
    """A short run at learning rate 50 (the non-chaotic regime, see test_tsne.py) with the
    momentum / exaggeration switch moved inside it; float32 rounding grows with the dynamics,
    so its run is shorter."""
    for mod in (scratch.tsne, scratch.fast.tsne):
        monkeypatch.setattr(mod, "EXPLORATION_ITERS", n_iter // 2)
    kw = dict(n_iter=n_iter, learning_rate=50.0, seed=0, dtype=dtype)
    book, fast = scratch.tsne.TSNE(**kw), scratch.fast.tsne.TSNE(**kw)
    Y_b, Y_f = book.fit_transform(X_DIGITS), fast.fit_transform(X_DIGITS)
    assert Y_b.dtype == Y_f.dtype == np.dtype(dtype) and book.n_iter_ == n_iter
    assert np.abs(Y_b).max() > 10 * scratch.tsne.INIT_SCALE  # it moved away from the start
    _report(f"tsne book trajectory ({n_iter} iterations)", dtype, [
        compare("param:P", fast.P_, book.P_),
        compare("param:Y", Y_f, Y_b, "trajectory", dtype),
        compare("param:kl_divergence_", np.array(fast.kl_divergence_),
                np.array(book.kl_divergence_), "trajectory", dtype, check_dtype=False)])


def test_tsne_book_switch_restarts_the_optimiser(monkeypatch):
    """Moving the switch changes the book run exactly as it changes the fast one: the monkeypatched
    constant reaches both fit loops."""
    runs = []
    for exploration in (3, 250):
        for mod in (scratch.tsne, scratch.fast.tsne):
            monkeypatch.setattr(mod, "EXPLORATION_ITERS", exploration)
        kw = dict(n_iter=6, learning_rate=50.0, seed=1)
        runs.append([m.TSNE(**kw).fit_transform(X_DIGITS[:60])
                     for m in (scratch.tsne, scratch.fast.tsne)])
    for book, fast in runs:
        compare("param:Y", fast, book, "trajectory", "float64")
    assert np.abs(runs[0][0] - runs[1][0]).max() > 1e-3 * np.abs(runs[1][0]).max()

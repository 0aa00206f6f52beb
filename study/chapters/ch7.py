"""Chapter 7: the convolutional autoencoder, and exact t-SNE to look at what it learned."""

from __future__ import annotations

import importlib

import numpy as np

from study.parity import ParityReport, compare
from study.spec import CheckSpec, Concept, LayerSpec, report


def tsne(dtype: str) -> list[ParityReport]:
    """The pieces of exact t-SNE on 60 digits in the three forms (book, fast, torch): joint probabilities P
    (perplexity 10), the Student-t affinities Q, KL(P || Q) and its gradient (analytic in scratch, autograd
    in torch); scikit-learn referees in float64."""
    from sklearn.datasets import load_digits

    forms = {name: importlib.import_module(module) for name, module in (
        ("book", "scratch.tsne"), ("fast", "scratch.fast.tsne"), ("torch", "torch_impl.tsne"))}
    book = forms["book"]
    X = load_digits().data[:60]
    D = book.pairwise_squared_distances(X).astype(dtype)
    Y = (3.0 * np.random.default_rng(11).standard_normal((60, 2))).astype(dtype)
    P = book.joint_probabilities(D, 10.0)
    kl, grad = book.kl_divergence(P, Y)
    reports = []
    for name in ("fast", "torch"):
        F = forms[name]
        kl_f, grad_f = F.kl_divergence(P, Y)
        reports.append(report(f"tsne {name} vs book", dtype, [
            compare("output P", F.joint_probabilities(D, 10.0), P, dtype=dtype),
            compare("output Q", F.student_t_affinities(Y), book.student_t_affinities(Y), dtype=dtype),
            compare("output KL", np.array(kl_f), np.array(kl), dtype=dtype, check_dtype=False),
            compare("grad:Y", grad_f, grad, dtype=dtype)]))
    if dtype == "float64":
        from scipy.spatial.distance import squareform
        from sklearn.manifold._t_sne import _joint_probabilities, _kl_divergence

        # sklearn searches on float32 distances: give both the same float32-representable numbers
        D32 = D.astype(np.float32).astype(np.float64)
        P_ref = squareform(_joint_probabilities(D32, 10.0, 0))
        kl_ref, grad_ref = _kl_divergence(Y.ravel(), squareform(P), 1, 60, 2)
        reports.append(report("tsne (sklearn referee)", dtype, [
            compare("output P", book.joint_probabilities(D32, 10.0), P_ref),
            compare("output KL", np.array(kl), np.array(kl_ref)),
            compare("grad:Y", grad, grad_ref.reshape(60, 2))]))
    return reports


_A, _T, _B = ("parity_tests/test_autoencoder.py", "parity_tests/test_tsne.py",
              "parity_tests/test_book_cnn_tsne.py")
_PIECES = ("pairwise_squared_distances", "conditional_probabilities", "joint_probabilities",
           "student_t_affinities", "kl_divergence")
# --- the book's equations (LaTeX, one display equation each) and what the book's own code does ---------------
_AUTOENCODER_EQ = (
    r"z = \mathrm{Dense}_{d}^{\tanh} \circ \mathrm{Flatten} \circ \mathrm{Conv}_{7}^{\tanh} \circ "
    r"\mathrm{Conv}_{14}^{\tanh}(x) \quad \text{(5 by 5 filters, same padding; } d = 28 \text{)}",
    r"\hat{x} = \mathrm{Conv}_{C}^{\tanh} \circ \mathrm{Conv}_{14}^{\tanh} \circ \mathrm{Reshape}_{(7, H, W)} \circ "
    r"\mathrm{Dense}_{7 H W}^{\tanh}(z)",
    r"L = \frac{1}{N} \sum_{n} \sum_{c,h,w} \left( \hat{x}_{n,c,h,w} - x_{n,c,h,w} \right)^{2} = "
    r"C H W \cdot \mathrm{MSELoss}(\hat{x}, x)",
    r"\frac{\partial L}{\partial \hat{x}} = \frac{2 \left( \hat{x} - x \right)}{N}",
    r"\mathrm{lr}_{\mathrm{here}} = \frac{\mathrm{lr}_{\mathrm{book}}}{C H W}",
)
_AUTOENCODER_BOOK = (
    "A convention, not a bug: the book trains with `nn.MSELoss()`, a mean over the pixels too, while both "
    "backends keep the project's MSE (summed over the pixels, averaged over the images), C H W times larger, so "
    "the book's `SGD(lr, momentum=0.9)` is exactly `SGDMomentum(lr / (C H W), momentum=0.9)` here "
    "(`experiments/autoencoder.py --book-lr` divides for you). The book keeps PyTorch's default initialisation "
    "(`kaiming_uniform_(a=sqrt(5))`), which a NumPy stream cannot reproduce; both backends draw Glorot weights "
    "from the shared stream, so they start from identical weights."
)
_TSNE_EQ = (
    r"D_{ij} = \lVert x_{i} - x_{j} \rVert^{2}",
    r"p_{j \mid i} = \frac{\exp(-\beta_{i} D_{ij})}{\sum_{k \neq i} \exp(-\beta_{i} D_{ik})}, \quad "
    r"\beta_{i} = \frac{1}{2 \sigma_{i}^{2}}",
    r"\exp\left( H(P_{i}) \right) = \mathrm{perplexity}, \quad H(P_{i}) = -\sum_{j} p_{j \mid i} \log p_{j \mid i}",
    r"p_{ij} = \frac{p_{j \mid i} + p_{i \mid j}}{2 n}",
    r"q_{ij} = \frac{w_{ij}}{\sum_{k \neq l} w_{kl}}, \quad "
    r"w_{ij} = \left( 1 + \frac{\lVert y_{i} - y_{j} \rVert^{2}}{\alpha} \right)^{-\frac{\alpha + 1}{2}}",
    r"C = \mathrm{KL}(P \parallel Q) = \sum_{i \neq j} p_{ij} \log \frac{p_{ij}}{q_{ij}}",
    r"\frac{\partial C}{\partial y_{i}} = \frac{2 (\alpha + 1)}{\alpha} \sum_{j} (p_{ij} - q_{ij}) "
    r"\left( 1 + \frac{\lVert y_{i} - y_{j} \rVert^{2}}{\alpha} \right)^{-1} (y_{i} - y_{j})",
)
_TSNE_BOOK = (
    "Nothing is known to be wrong in the book's code here. Our book form (`scratch/tsne.py`) follows van der "
    "Maaten and Hinton (2008) equation by equation, and all three forms are refereed by scikit-learn's exact "
    "method, from which they differ on purpose: float64 distances in the perplexity search (sklearn casts them "
    "to float32), no floor on q_ij, and for alpha != 1 the true derivative, where sklearn's exact gradient "
    "multiplies by w_ij instead of (1 + d_ij / alpha)^-1 and is off by O(1)."
)

CONCEPTS = [
    Concept("autoencoder", "Convolutional autoencoder: Conv2D x2, Dense, Dense, Reshape, Conv2D x2, MSE", "7",
            "scratch.autoencoder:Autoencoder", "torch_impl.autoencoder:Autoencoder",
            # an asymmetric 6x7 image, a 5-number encoding; weights of scale 0.1 keep the tanh layers out
            # of saturation (where every gradient would vanish and agree trivially); finite differences
            # of the whole model take seconds, so they stay in test_autoencoder.py
            LayerSpec(lambda B, dtype: B.Autoencoder((6, 7), encoding_dim=5, seed=5, dtype=dtype), (1, 6, 7),
                      weight_scale=0.1, finite_differences=False),
            (f"{_A}::test_autoencoder_parity_at_dataset_sizes", f"{_A}::test_autoencoder_finite_differences",
             f"{_A}::test_autoencoder_trajectory"),
            conversion="each layer's own conversion (Conv2D: W.permute(1, 0, 2, 3); Dense: W.T), keys "
                       "layers.<i>.<name>", equations=_AUTOENCODER_EQ, book_code=_AUTOENCODER_BOOK),
    Concept("tsne", "Exact t-SNE: P, Q, KL(P || Q) and its gradient (sklearn referee)", "7",
            "scratch.tsne:kl_divergence", "torch_impl.tsne:kl_divergence", CheckSpec(tsne),
            (f"{_T}::test_joint_probabilities_parity", f"{_T}::test_kl_divergence_parity",
             f"{_T}::test_trajectory_parity_and_sklearn_optimiser", f"{_B}::test_tsne_book_affinities_kl_and_gradient",
             f"{_B}::test_tsne_book_run_matches_fast"), fast="scratch.fast.tsne:kl_divergence",
            show_scratch=tuple(f"scratch.tsne:{f}" for f in _PIECES),
            show_torch=tuple(f"torch_impl.tsne:{f}" for f in _PIECES),
            conversion="none: NumPy arrays in and out", equations=_TSNE_EQ, book_code=_TSNE_BOOK),
]

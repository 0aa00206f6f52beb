"""The perplexity search of t-SNE (``conditional_probabilities``) in its corners: the book form (one row at a
time, ``scratch.tsne``) referees the fast form (all rows at once) and torch (all rows, in blocks of rows).

- blocks: torch's search runs over blocks of rows of the still-searching points; 7-row blocks make many of them,
  ragged ones included, on the full set and on every shrinking subset;
- the step cap: a row still searching after the last step keeps its last P, and beta the next value it would
  have tried;
- a row whose every term underflows (an outlier) divides by ``EMPTY_ROW_SUM`` and searches down from there;
- the exp floor: the fast forms take e^(-beta D_ij) <= e^EXP_FLOOR as 0 where the book form computes it (to a
  subnormal, ~1e-310): those entries are 0, and every other number is the book form's.
"""

from __future__ import annotations

import numpy as np
import pytest

import scratch.fast.tsne as S
import scratch.tsne as book
import torch_impl.tsne as T
from dlfs.tsne_common import EXP_FLOOR, PERPLEXITY_TOLERANCE
from parity_tests.test_tsne import _one_torch_thread  # noqa: F401 -- autouse: one torch thread here too
from study.parity import ParityReport, compare

FORMS = (("fast", S), ("torch", T))
UNCONVERGED = {1: 120, 4: 120, 9: 100}  # rows still searching when the cap stops them
X = np.random.default_rng(11).standard_normal((120, 5)) * 3.0  # (120, 5)


def _against_the_book(title: str, D: np.ndarray, perplexity: float) -> tuple[np.ndarray, np.ndarray]:
    """Every form's (P_cond, beta) against the book form's; returns the book form's."""
    Pc_b, beta_b = book.conditional_probabilities(D, perplexity)
    report = ParityReport(title, "float64")
    for name, mod in FORMS:
        Pc, beta = mod.conditional_probabilities(D, perplexity)
        report.add(compare(f"P_cond {name}", Pc, Pc_b, dtype="float64"))
        report.add(compare(f"beta {name}", beta, beta_b, dtype="float64"))
    return Pc_b, beta_b


def test_search_in_blocks_of_rows(monkeypatch):
    D = S.pairwise_squared_distances(X)
    monkeypatch.setattr(T, "_BLOCK_ELEMENTS", 7 * len(X))  # 7 rows a block: 18 blocks, the last of 1 row
    Pc, _ = _against_the_book("tsne search, 7-row blocks", D, 10.0)
    entropy = -(Pc * np.log(np.where(Pc > 0, Pc, 1.0))).sum(axis=1)
    assert np.abs(entropy - np.log(10.0)).max() <= PERPLEXITY_TOLERANCE


@pytest.mark.parametrize("steps", [1, 4, 9])
def test_the_step_cap(monkeypatch, steps):
    """After 1, 4 or 9 steps most rows are still searching: all of them keep their last P."""
    D = S.pairwise_squared_distances(X)
    for mod in (book, S, T):
        monkeypatch.setattr(mod, "BINARY_SEARCH_STEPS", steps)
    monkeypatch.setattr(T, "_BLOCK_ELEMENTS", 7 * len(X))
    Pc, beta = _against_the_book(f"tsne search, capped at {steps} steps", D, 10.0)
    np.testing.assert_allclose(Pc.sum(axis=1), 1.0, rtol=1e-12)
    entropy = -(Pc * np.log(np.where(Pc > 0, Pc, 1.0))).sum(axis=1)
    unconverged = np.abs(entropy - np.log(10.0)) > PERPLEXITY_TOLERANCE
    assert unconverged.sum() >= UNCONVERGED[steps]  # the cap bites
    if steps == 1:  # one step from beta = 1: doubled or halved
        assert set(np.unique(beta)) <= {0.5, 2.0}


def test_an_outlier_whose_every_term_underflows():
    """At beta = 1 every e^(-D_ij) of the outlier's row is 0 (D ~ 6e4): its row sum is EMPTY_ROW_SUM, its
    entropy far below the target, and beta halves from there until the search brackets it."""
    Xo = np.vstack([X[:40], np.full((1, 5), 100.0)])
    D = S.pairwise_squared_distances(Xo)
    assert np.exp(-np.delete(D[-1], -1)).max() == 0.0
    Pc, beta = _against_the_book("tsne search, an outlier", D, 10.0)
    assert beta[-1] < 1e-2 and abs(Pc[-1].sum() - 1.0) < 1e-12


def test_terms_below_the_exp_floor_are_zero():
    """Two clusters 1-D apart by L: for the points of one, the other's terms land at e^-720 at convergence
    (L chosen from the book form's beta), subnormal in the book form and 0 in the fast forms."""
    near = np.linspace(0.0, 1.0, 30)[:, None]  # (30, 1)
    D0 = S.pairwise_squared_distances(near)
    beta0 = book.conditional_probabilities(D0, 5.0)[1]
    L = np.sqrt(720.0 / beta0.min())  # the point with the smallest beta sees the far cluster at e^-720
    points = np.vstack([near, near + L])
    D = S.pairwise_squared_distances(points)
    Pc_b, beta_b = book.conditional_probabilities(D, 5.0)
    below = (Pc_b > 0) & (D * -beta_b[:, None] <= EXP_FLOOR)  # e^(-beta D_ij) <= e^EXP_FLOOR
    assert below.any() and Pc_b[below].max() < 1e-300  # the case occurs: subnormal terms in the book form
    report = ParityReport("tsne search, the exp floor", "float64")
    for name, mod in FORMS:
        Pc, beta = mod.conditional_probabilities(D, 5.0)
        assert np.all(Pc[below] == 0.0), name
        report.add(compare(f"P_cond {name}", Pc, Pc_b, dtype="float64"))
        report.add(compare(f"beta {name}", beta, beta_b, dtype="float64"))
        np.testing.assert_array_equal(mod.joint_probabilities(D, 5.0) > 0, book.joint_probabilities(D, 5.0) > 0)

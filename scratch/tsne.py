"""Placeholder: the book form of this concept is being written; until then this re-exports the fast form."""

from scratch.fast.tsne import (
    TSNE,
    conditional_probabilities,
    joint_probabilities,
    kl_divergence,
    pairwise_squared_distances,
    student_t_affinities,
)

__all__ = ["pairwise_squared_distances", "conditional_probabilities", "joint_probabilities",
           "student_t_affinities", "kl_divergence", "TSNE"]

import scratch.fast.tsne as _fast  # noqa: E402

globals().update({k: v for k, v in vars(_fast).items() if not k.startswith("__") and k not in globals()})

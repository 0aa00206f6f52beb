"""Shared fixtures for the parity suite."""

from __future__ import annotations

import os

import matplotlib
import pytest
import torch

matplotlib.use("Agg")
# pytest -n 2 runs two workers on two cores: one intra-op thread each. More threads oversubscribe the cores and
# torch's spinning thread pool then makes tiny steps ~30x slower.
torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(params=["scratch", "torch"])
def B(request):
    """Each backend module in turn, for tests that must hold in both."""
    import dlfs

    return dlfs.backend(request.param)

"""Shared fixtures for the parity suite."""

from __future__ import annotations

import os

import matplotlib
import pytest

matplotlib.use("Agg")
os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(params=["scratch", "torch"])
def B(request):
    """Each backend module in turn, for tests that must hold in both."""
    import dlfs

    return dlfs.backend(request.param)

"""Shared fixtures for the parity suite."""

from __future__ import annotations

import os

import matplotlib
import pytest
import torch
from hypothesis import settings

from experiments.report import find_chromium

matplotlib.use("Agg")
# pytest -n 2 runs two workers on two cores: one intra-op thread each. More threads oversubscribe the cores and
# torch's spinning thread pool then makes tiny steps ~30x slower.
torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")

# `make test-gpu` runs the torch side on CUDA (DLFS_TORCH_DEVICE=cuda, the default device of every torch network and
# layer): with TF32 off and deterministic algorithms on, so the parity tolerances hold there as on the CPU.
if os.environ.get("DLFS_TORCH_DEVICE", "").strip().startswith("cuda"):
    from torch_impl.devices import cuda_parity_mode

    cuda_parity_mode()

# The run report's headless-browser test needs Chromium (`make browser-test`; .ci/run installs it). Where there is
# none the file is not collected at all (nothing in parity_tests may skip).
collect_ignore = [] if find_chromium() else ["test_report_browser.py", "test_site_browser.py"]

# Hypothesis (test_properties.py): a seed fixed by each test's name (the same examples on every run, no flakes), no
# per-example deadline (a busy machine is not a slow layer), no example database written into the checkout.
# `make hypothesis-long` sets DLFS_HYPOTHESIS_PROFILE=long: ten times the examples of every property.
settings.register_profile("dlfs", derandomize=True, deadline=None, database=None, max_examples=100)
settings.register_profile("long", parent=settings.get_profile("dlfs"), max_examples=1000)
settings.load_profile(os.environ.get("DLFS_HYPOTHESIS_PROFILE", "") or "dlfs")


@pytest.fixture(autouse=True, scope="session")
def _parity_results_outside_the_checkout(tmp_path_factory):
    """`dlfs parity` records its results in the user's cache: during the tests, a temporary one."""
    os.environ["DLFS_CACHE_DIR"] = str(tmp_path_factory.mktemp("dlfs-cache"))


@pytest.fixture(params=["scratch", "torch"])
def B(request):
    """Each backend module in turn, for tests that must hold in both."""
    import dlfs

    return dlfs.backend(request.param)


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """The whole study site, from the committed parity record, with one experiment run (a 2-epoch demo): what
    test_site.py reads as text and test_site_browser.py opens in Chromium."""
    from experiments.demo import main as demo
    from study import results
    from study.site import build_site

    runs = tmp_path_factory.mktemp("runs")
    demo(["--epochs", "2", "--out", str(runs / "demo"), "--no-progress"])
    out = tmp_path_factory.mktemp("site") / "site"
    build_site(out, runs=runs, parity=results.RECORD)
    return out

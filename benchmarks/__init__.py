"""dlfs's benchmarks: the NumPy backend against PyTorch on CPU, side by side in one process.

    python -m benchmarks [--json PATH] [--quick]

The runner (``benchmarks/__main__.py``) discovers every module ``benchmarks/bench_*.py``; each exposes
``run(quick: bool) -> list[dict]`` whose rows hold ``name``, ``scratch_s``, ``torch_s``, ``ratio`` (scratch / torch
wall time), ``gflop`` (work per call), ``scratch_gflops``, ``torch_gflops`` and ``target`` (the ratio to stay
under, or None). Timings are medians over repeats after warm-up, the two backends alternating call by call
so that a noisy neighbour slows both alike. Benchmarks, not tests: the test suite checks only the structure.
"""

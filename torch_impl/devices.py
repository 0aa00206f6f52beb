"""Where the torch backend runs: ``device`` of ``NeuralNetwork`` (and of a layer used on its own).

``device`` is ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; None means the default, ``$DLFS_TORCH_DEVICE``
(``make test-gpu`` sets it to ``cuda``), else ``"cpu"``. A bare ``"cuda"`` is the current GPU, and
under torchrun (``$LOCAL_RANK`` set) this process's own, ``cuda:$LOCAL_RANK``. A CUDA device that
this torch or this machine does not have is a clear error here, not a traceback from inside torch
at the first batch.
Parameters are created on the device (layers build under ``torch.device(...)``), inputs and
targets are moved there, and everything read back goes through ``.cpu()`` before ``.numpy()``.

Parity on a GPU (``cuda_parity_mode``): TF32 off for matmuls and cuDNN convolutions, and
deterministic algorithms (``torch.use_deterministic_algorithms(True)``, with
``CUBLAS_WORKSPACE_CONFIG=:4096:8``, which cuBLAS reads when it starts: set it in the environment
before the process touches CUDA, as ``make test-gpu`` does; this module only sets a default).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch

DEVICE_ENV = "DLFS_TORCH_DEVICE"
DEVICE_TYPES = ("cpu", "cuda")
CUBLAS_WORKSPACE = ":4096:8"


def default_device() -> str:
    """``$DLFS_TORCH_DEVICE``, else ``"cpu"``."""
    return os.environ.get(DEVICE_ENV, "").strip() or "cpu"


def resolve_device(device: str | torch.device | None, owner: str = "NeuralNetwork") -> torch.device:
    """``device`` (None: ``default_device()``) as a ``torch.device`` this machine has; a clear
    ``ValueError`` (a bad name) or ``RuntimeError`` (no such GPU here) otherwise."""
    given = device
    where = f"{owner}: device={given!r}"
    if device is None:
        device = default_device()
        where = f"{owner}: device=None (${DEVICE_ENV}={device!r})"
    if not isinstance(device, str | torch.device):
        raise TypeError(f"{where}: expected 'cpu', 'cuda' or 'cuda:N', got "
                        f"{type(device).__name__}")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise ValueError(f"{where}: expected 'cpu', 'cuda' or 'cuda:N'") from None
    if dev.type not in DEVICE_TYPES or (dev.type == "cpu" and dev.index not in (None, 0)):
        raise ValueError(f"{where}: expected 'cpu', 'cuda' or 'cuda:N'")
    if dev.type == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        build = ("a CPU-only build" if torch.version.cuda is None
                 else f"built for CUDA {torch.version.cuda}, but no GPU is visible")
        raise RuntimeError(f"{where}: no CUDA device is available (torch {torch.__version__} is "
                           f"{build}); use device='cpu'")
    count = torch.cuda.device_count()
    index = dev.index
    if index is None:  # under torchrun each process its own GPU (unless it sees only one)
        local = int(os.environ.get("LOCAL_RANK", "-1"))
        index = local if 0 <= local < count else torch.cuda.current_device()
    if index >= count:
        raise RuntimeError(f"{where}: this machine has {count} CUDA device(s), cuda:0 to "
                           f"cuda:{count - 1}")
    return torch.device("cuda", index)


def cuda_parity_mode() -> None:
    """Settings under which CUDA results are held to the scratch backend's: TF32 off (matmul and
    cuDNN), deterministic algorithms on, cuBLAS's deterministic workspace (a default: it must be
    in the environment before cuBLAS starts)."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.use_deterministic_algorithms(True)


@contextmanager
def limit_threads(threads: int) -> Iterator[None]:
    """Run the body with ``threads`` threads for torch (``set_num_threads``) and for NumPy's BLAS
    and OpenMP (threadpoolctl); torch's count is restored afterwards (an experiment's or a
    benchmark's ``main`` may run inside a test process)."""
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(threads):
            yield
    finally:
        torch.set_num_threads(before)

"""Can this machine run the model where the settings say? Said plainly, before any job is taken.

CTranslate2 4.8.5's wheels are built against CUDA 12: on a GPU they load `libcublas.so.12` and
cuDNN 9 at run time. A host whose driver and toolkit are newer (CUDA 13 libraries only) has a GPU
that CTranslate2 sees, and then fails at the first model call with a loader error deep in a job.
`cuda_problem` finds that at start-up instead and names what is missing and how to bring it.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable

__all__ = ["CUDA_LIBRARIES", "cuda_problem", "resolve_device"]

CUDA_LIBRARIES = {
    "libcublas.so.12": "cuBLAS 12 (pip: nvidia-cublas-cu12)",
    "libcublasLt.so.12": "cuBLAS Lt 12 (pip: nvidia-cublas-cu12)",
    "libcudnn.so.9": "cuDNN 9 (pip: nvidia-cudnn-cu12)",
}
"""What CTranslate2 4.8.5 loads on CUDA, and where each comes from."""


def _loadable(name: str) -> bool:
    try:
        ctypes.CDLL(name)
    except OSError:
        return False
    return True


def _gpu_count() -> int:
    import ctranslate2

    try:
        return int(ctranslate2.get_cuda_device_count())
    except RuntimeError:
        return 0


def cuda_problem(
    *, gpu_count: Callable[[], int] = _gpu_count, loadable: Callable[[str], bool] = _loadable
) -> str | None:
    """None if a CUDA worker can run here; else one sentence saying what it lacks."""
    if gpu_count() == 0:
        return "no CUDA device is visible to CTranslate2 (no NVIDIA driver, or the device is not passed in)"
    missing = [f"{lib} ({what})" for lib, what in CUDA_LIBRARIES.items() if not loadable(lib)]
    if missing:
        return (
            "CTranslate2 4.8.5 needs the CUDA 12 runtime libraries beside the driver, and cannot load "
            + ", ".join(missing)
            + ". Use the CUDA image (docker/Dockerfile.cuda carries them), or install those packages and put "
            "their lib directories on LD_LIBRARY_PATH."
        )
    return None


def resolve_device(device: str, *, problem: Callable[[], str | None] = cuda_problem) -> str:
    """`auto` becomes cuda where a CUDA worker can run, else cpu; cpu and cuda stay as they are."""
    if device != "auto":
        return device
    return "cpu" if problem() is not None else "cuda"

"""engine.transcription.device: a CUDA worker says what it lacks before it takes a job."""

from __future__ import annotations

from engine.transcription.device import CUDA_LIBRARIES, cuda_problem, resolve_device


def test_a_host_with_only_cuda_13_libraries_is_told_which_cuda_12_ones_to_bring() -> None:
    present = {"libcublas.so.13", "libcudnn.so.9"}
    problem = cuda_problem(gpu_count=lambda: 1, loadable=lambda name: name in present)
    assert problem is not None
    assert "libcublas.so.12" in problem and "nvidia-cublas-cu12" in problem
    assert "libcudnn.so.9" not in problem  # what is there is not named as missing
    assert "docker/Dockerfile.cuda" in problem


def test_no_gpu_is_said_plainly_and_a_complete_host_passes() -> None:
    assert "no CUDA device" in (cuda_problem(gpu_count=lambda: 0, loadable=lambda name: True) or "")
    assert cuda_problem(gpu_count=lambda: 2, loadable=lambda name: name in CUDA_LIBRARIES) is None


def test_auto_picks_cuda_only_where_it_can_run() -> None:
    assert resolve_device("auto", problem=lambda: None) == "cuda"
    assert resolve_device("auto", problem=lambda: "no CUDA device") == "cpu"
    assert resolve_device("cpu", problem=lambda: None) == "cpu"
    assert resolve_device("cuda", problem=lambda: "missing") == "cuda"  # the worker refuses to start instead


def test_the_real_probe_agrees_with_ctranslate2() -> None:
    import ctranslate2

    problem = cuda_problem()
    if ctranslate2.get_cuda_device_count() == 0:
        assert problem is not None and "no CUDA device" in problem
    else:
        assert problem is None or "CUDA 12" in problem

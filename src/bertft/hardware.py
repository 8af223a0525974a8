"""What the machine does fast: the precision to train in, decided once from the hardware."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

# torch is imported by the functions that need it: `bertft serve` asks for the CPU count before
# torch loads, so that OpenMP settings made there still apply.


@cache
def cpu_flags() -> frozenset[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def available_cpus() -> int:
    """CPUs this process may run on (a container's or taskset's limit, not the host's count)."""
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def cpu_has_native_bf16() -> bool:
    """AMX or AVX512-BF16: bf16 matmuls run several times faster than fp32 (measured here:
    ~2.3 vs ~0.4 TFLOP/s on 2 cores). Without them bf16 is emulated and slower."""
    return bool({"amx_bf16", "avx512_bf16"} & cpu_flags())


def inference_precision(requested: str, trained_in: str | None, device: str = "cpu") -> str:
    """The weights' dtype for inference. 'auto' -> the training precision where this device runs
    it natively (bf16 on AMX/AVX512-BF16 CPUs, about 3x fp32 at batch 32 here; bf16 or fp16
    on a GPU), else fp32: a model trained in fp32 is served as it was measured."""
    from bertft.errors import BertftError

    if requested not in ("auto", "fp32", "bf16", "fp16"):
        raise BertftError(f"precision must be auto, fp32, bf16 or fp16, got '{requested}'")
    on_gpu = device.startswith("cuda")
    if requested == "fp16" and not on_gpu:
        raise BertftError("fp16 inference needs a CUDA GPU; use bf16 or fp32 on CPU")
    if requested != "auto":
        return requested
    if device == "mps":  # fp32: MPS's half-precision support varies with the macOS version
        return "fp32"
    if on_gpu:
        import torch

        if trained_in == "bf16" and torch.cuda.is_bf16_supported():
            return "bf16"
        return "fp16" if trained_in == "fp16" else "fp32"
    return "bf16" if trained_in == "bf16" and cpu_has_native_bf16() else "fp32"


def mps_available() -> bool:
    """Apple's Metal GPU through torch's MPS backend (Apple silicon, macOS 12.3+). Not
    testable on the Linux machines this project is built on: the code paths stay small."""
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def resolve_device(requested: str) -> str:
    """'auto' -> 'cuda' when a GPU is visible, else 'mps' on a Mac that has it, else 'cpu';
    'cuda', 'cuda:N' and 'mps' are checked."""
    import torch

    from bertft.errors import BertftError

    if requested == "auto":
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if mps_available() else "cpu"
    if requested == "cpu":
        return "cpu"
    if requested == "mps":
        if not mps_available():
            raise BertftError("device mps: torch has no MPS (Apple GPU) device here; use cpu")
        return "mps"
    if requested == "cuda" or re.fullmatch(r"cuda:\d+", requested):
        if not torch.cuda.is_available():
            raise BertftError(f"device {requested}: no CUDA GPU is visible here; use cpu")
        index = int(requested.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise BertftError(
                f"device {requested}: this machine has {torch.cuda.device_count()} GPU(s)"
            )
        return requested
    raise BertftError(f"device must be auto, cpu, cuda, cuda:N or mps, got '{requested}'")


def resolve_precision(requested: str) -> str:
    """'auto' -> bf16 where native (AMX/AVX512-BF16 CPUs, Ampere+ GPUs), fp16 on older GPUs,
    fp32 otherwise. An explicit choice is kept, except fp16 on CPU, which has no fast path."""
    import torch

    if requested != "auto":
        if requested == "fp16" and not torch.cuda.is_available():
            from bertft.errors import BertftError

            raise BertftError("--precision fp16 needs a CUDA GPU; use bf16 or fp32 on CPU")
        return requested
    if torch.cuda.is_available():
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "bf16" if cpu_has_native_bf16() else "fp32"


def describe() -> dict[str, str]:
    """The machine a run used, for reports: CPU model and cores, GPU, torch version."""
    import platform

    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": f"{cpu} ({available_cpus()} cores available)", "torch": torch.__version__}
    if torch.cuda.is_available():
        count = torch.cuda.device_count()
        info["gpu"] = f"{torch.cuda.get_device_name(0)} x{count}"
    return info

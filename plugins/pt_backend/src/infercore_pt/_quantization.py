"""The quantized checkpoints transformers loads on this machine: a cheap check, without torch."""

from __future__ import annotations

import importlib.util
from pathlib import Path

__all__ = ["has_cuda_driver", "quantization"]


def has_cuda_driver() -> bool:
    """Whether an NVIDIA driver is loaded: a GPU, known without importing torch."""
    return Path("/proc/driver/nvidia/version").exists()


def _library(module: str, requirement: str) -> str | None:
    if importlib.util.find_spec(module) is None:
        return f"needs {module}: pip install '{requirement}'"
    return None


def quantization() -> dict[str, str | None]:
    """torchao and bitsandbytes checkpoints (what ``infercore export`` writes) on CPU and GPU;
    GPTQ through gptqmodel; FP8 on a GPU only."""
    return {
        "torchao": _library("torchao", "infercore[quant]"),
        "bitsandbytes": _library("bitsandbytes", "infercore[quant]"),
        "gptq": _library("gptqmodel", "gptqmodel"),
        "fp8": None if has_cuda_driver() else "needs a CUDA GPU of compute capability 8.9+",
    }

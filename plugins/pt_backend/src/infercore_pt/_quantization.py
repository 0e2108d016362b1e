"""The quantized checkpoints transformers loads on this machine (a cheap check, without
torch), and the quieting of what an 8-bit one logs at every step."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

__all__ = ["has_cuda_driver", "quantization", "quiet_int8_casts"]


def has_cuda_driver() -> bool:
    """Whether an NVIDIA driver is loaded: a GPU, known without importing torch."""
    return Path("/proc/driver/nvidia/version").exists()


def _library(module: str, requirement: str) -> str | None:
    if importlib.util.find_spec(module) is None:
        return f"needs {module}: pip install '{requirement}'"
    return None


def quantization() -> dict[str, str | None]:
    """torchao, bitsandbytes and compressed-tensors checkpoints (what ``infercore export``
    writes) on CPU and GPU; GPTQ through gptqmodel; FP8 on a GPU only."""
    return {
        "torchao": _library("torchao", "infercore[quant]"),
        "bitsandbytes": _library("bitsandbytes", "infercore[quant]"),
        "compressed-tensors": _library("compressed_tensors", "infercore[compress]"),
        "gptq": _library("gptqmodel", "gptqmodel"),
        "fp8": None if has_cuda_driver() else "needs a CUDA GPU of compute capability 8.9+",
    }


def quiet_int8_casts(model_config: Any) -> None:
    """For a bitsandbytes 8-bit model, drop bitsandbytes' notice that LLM.int8() casts a
    layer's inputs to float16.

    The cast is how the method works, not a setting gone wrong, and bitsandbytes logs it
    for every 8-bit layer at every forward: thousands of lines for one answer.
    """
    config = getattr(model_config, "quantization_config", None)
    if isinstance(config, dict):
        eight_bit = config.get("load_in_8bit", False)
    else:
        eight_bit = getattr(config, "load_in_8bit", False)
    if eight_bit:
        logging.getLogger("bitsandbytes.autograd._functions").addFilter(_not_a_cast_notice)


def _not_a_cast_notice(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("MatMul8bitLt: inputs will be cast")

"""Exporting a model: a LoRA adapter merged into its base weights, and quantized checkpoints,
each through the library made for it (peft; torchao, bitsandbytes, llm-compressor), saved as
checkpoints the backends load."""

from infercore._export._calibration import DEFAULT_SAMPLES
from infercore._export._checkpoint import DTYPES
from infercore._export._export import export
from infercore._export._merge import merge_lora
from infercore._export._methods import QUANT_METHODS, QuantMethod
from infercore._export._quantize import quantize

__all__ = [
    "DEFAULT_SAMPLES",
    "DTYPES",
    "QUANT_METHODS",
    "QuantMethod",
    "export",
    "merge_lora",
    "quantize",
]

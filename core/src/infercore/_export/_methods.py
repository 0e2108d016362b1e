"""The quantization methods ``infercore export`` knows, and the bits each takes."""

from __future__ import annotations

from dataclasses import dataclass

from infercore._errors import InvalidRequestError

__all__ = ["QUANT_METHODS", "QuantMethod", "quant_method"]


@dataclass(frozen=True)
class QuantMethod:
    """A ``--quant-method``: the library that quantizes, and what it takes.

    ``bits`` lists the widths it quantizes to, the first being the default.
    ``unsupported`` says why ``infercore export`` does not run it, and what to do
    instead; ``None`` for the methods it runs.
    """

    name: str
    bits: tuple[int, ...]
    library: str
    requirement: str
    description: str
    unsupported: str | None = None

    def suffix(self, bits: int) -> str:
        """What the default output folder's name ends with: ``-int8``, ``-bnb4``."""
        return f"-{self.name}" if self.name.endswith(str(bits)) else f"-{self.name}{bits}"


QUANT_METHODS: dict[str, QuantMethod] = {
    method.name: method
    for method in (
        QuantMethod(
            "int8",
            (8,),
            "torchao",
            "infercore[export,quant]",
            "torchao int8 weight-only: linear weights as int8 with a scale per output channel",
        ),
        QuantMethod(
            "bnb",
            (4, 8),
            "bitsandbytes",
            "infercore[export,quant]",
            "bitsandbytes: 4-bit NF4 (double quantization) or 8-bit LLM.int8()",
        ),
        QuantMethod(
            "gptq",
            (4, 8),
            "gptqmodel",
            "gptqmodel",
            "GPTQ, calibrated on a dataset",
            unsupported="gptqmodel, its library, builds from source against torch 2.14.1 or "
            "newer and is not run by infercore export; quantize with gptqmodel itself "
            "(calibration wants a CUDA GPU), then serve its output folder: vLLM loads GPTQ "
            "checkpoints on CPU and GPU",
        ),
        QuantMethod(
            "awq",
            (4,),
            "awq",
            "autoawq",
            "AWQ, calibrated on a dataset",
            unsupported="AutoAWQ is no longer maintained, and its successor llm-compressor "
            "needs transformers 5.17 or older; quantize with llm-compressor in an environment "
            "of its own, then serve its output folder on vLLM",
        ),
        QuantMethod(
            "fp8",
            (8,),
            "vllm",
            "infercore[vllm]",
            "FP8 weights",
            unsupported="FP8 needs a GPU with FP8 support and is not part of infercore export; "
            "vLLM quantizes a model to FP8 as it loads it: infercore deploy --backend vllm "
            "-O quantization=fp8",
        ),
    )
}


def quant_method(name: str, bits: int | None) -> tuple[QuantMethod, int]:
    """The method named ``name`` at ``bits`` (default: its first); a bad pair is refused."""
    method = QUANT_METHODS.get(name)
    if method is None:
        raise InvalidRequestError(
            f"unknown quantization method {name!r}; choose one of {sorted(QUANT_METHODS)}",
            param="quant_method",
        )
    if method.unsupported is not None:
        raise InvalidRequestError(
            f"--quant-method {name} is not supported here: {method.unsupported}",
            param="quant_method",
        )
    if bits is None:
        return method, method.bits[0]
    if bits not in method.bits:
        widths = " or ".join(str(width) for width in method.bits)
        raise InvalidRequestError(
            f"--quant-method {name} quantizes to {widths} bits, not {bits}", param="quant_bits"
        )
    return method, bits

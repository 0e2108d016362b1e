"""The quantization methods ``infercore export`` knows, and the bits each takes."""

from __future__ import annotations

from dataclasses import dataclass

from infercore._errors import InvalidRequestError

__all__ = ["QUANT_METHODS", "QuantMethod", "quant_method"]


@dataclass(frozen=True)
class QuantMethod:
    """A ``--quant-method``: the library that quantizes, and what it takes.

    ``bits`` lists the widths it quantizes to, the first being the default.
    ``calibrated`` methods measure the model's activations on a calibration dataset
    (``--calibration-dataset``) to choose how to round each weight.
    """

    name: str
    bits: tuple[int, ...]
    library: str
    requirement: str
    description: str
    calibrated: bool = False

    def suffix(self, bits: int) -> str:
        """What the default output folder's name ends with: ``-int8``, ``-bnb4``."""
        return f"-{self.name}" if self.name.endswith(str(bits)) else f"-{self.name}{bits}"


# llm-compressor writes compressed-tensors checkpoints, which vLLM runs with its own
# kernels and transformers loads back; it pins transformers and compressed-tensors to
# releases of its own, hence an extra (and an environment) apart from vLLM's.
_COMPRESS = "infercore[export,compress]"

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
            "llmcompressor",
            _COMPRESS,
            "GPTQ through llm-compressor: integer weights in groups, rounded to fit the "
            "activations of a calibration dataset",
            calibrated=True,
        ),
        QuantMethod(
            "awq",
            (4,),
            "llmcompressor",
            _COMPRESS,
            "AWQ through llm-compressor: 4-bit weights in groups, scaled by the activations "
            "of a calibration dataset (needs a CUDA GPU)",
            calibrated=True,
        ),
        QuantMethod(
            "fp8",
            (8,),
            "llmcompressor",
            _COMPRESS,
            "FP8 through llm-compressor: float8 weights with a scale per output channel, "
            "activations quantized per token as the model runs",
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
    if bits is None:
        return method, method.bits[0]
    if bits not in method.bits:
        widths = " or ".join(str(width) for width in method.bits)
        raise InvalidRequestError(
            f"--quant-method {name} quantizes to {widths} bits, not {bits}", param="quant_bits"
        )
    return method, bits

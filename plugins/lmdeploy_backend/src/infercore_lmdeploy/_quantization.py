"""The quantized checkpoints LMDeploy loads, by its ``model_format``: a cheap check,
without torch or LMDeploy."""

from __future__ import annotations

from infercore_lmdeploy._probe import unavailable_reason

__all__ = ["quantization"]


def quantization() -> dict[str, str | None]:
    """AWQ and GPTQ 4-bit checkpoints (``model_format`` awq or gptq), wherever LMDeploy
    itself runs: on a CUDA GPU."""
    reason = unavailable_reason()
    return {"awq": reason, "gptq": reason}

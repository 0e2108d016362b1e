"""The quantized checkpoints LMDeploy loads, by its ``model_format``."""

from __future__ import annotations

__all__ = ["quantization"]


def quantization() -> dict[str, str | None]:
    """AWQ and GPTQ 4-bit checkpoints, wherever LMDeploy itself runs (its probe says
    where it cannot)."""
    return {"awq": None, "gptq": None}

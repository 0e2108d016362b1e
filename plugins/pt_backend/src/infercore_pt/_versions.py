"""The transformers and peft releases that load LoRA adapters together."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from packaging.version import Version

__all__ = ["installed_lora_incompatibility", "lora_incompatibility"]

# (first transformers release, the oldest peft it loads adapters with).
_PEFT_NEEDED = ((Version("5.24.0.dev0"), Version("0.22.0")),)


def lora_incompatibility(transformers_version: str, peft_version: str | None) -> str | None:
    """Why this pair of releases cannot load LoRA adapters, or None when it can."""
    if peft_version is None:
        return "LoRA adapters need peft: pip install 'infercore-pt[lora]'"
    for since, oldest_peft in _PEFT_NEEDED:
        if Version(transformers_version) >= since and Version(peft_version) < oldest_peft:
            return (
                f"transformers {transformers_version} loads LoRA adapters only with "
                f"peft >= {oldest_peft}, and peft {peft_version} is installed: "
                f"pip install 'transformers<{since.base_version}' or 'peft>={oldest_peft}'"
            )
    return None


def installed_lora_incompatibility() -> str | None:
    """`lora_incompatibility` of the releases installed here."""
    try:
        peft_version: str | None = version("peft")
    except PackageNotFoundError:
        peft_version = None
    return lora_incompatibility(version("transformers"), peft_version)

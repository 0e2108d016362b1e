"""Reading a checkpoint's model and writing a checkpoint that every engine loads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infercore._errors import InfercoreError

__all__ = ["DTYPES", "is_multimodal", "load_model", "save_checkpoint", "saved_dtype"]

#: ``auto`` keeps the checkpoint's own dtype.
DTYPES = ("auto", "float32", "bfloat16", "float16")


def is_multimodal(path: str) -> bool:
    """Whether the checkpoint is a vision or audio language model."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_MULTIMODAL_LM_MAPPING_NAMES

    return AutoConfig.from_pretrained(path).model_type in MODEL_FOR_MULTIMODAL_LM_MAPPING_NAMES


def saved_dtype(path: str, dtype: str) -> Any:
    """The torch dtype to save in: ``dtype``, or for ``auto`` the checkpoint's own."""
    import torch
    from transformers import AutoConfig

    if dtype != "auto":
        return getattr(torch, dtype)
    configured = AutoConfig.from_pretrained(path).dtype
    if isinstance(configured, str):
        return getattr(torch, configured)
    return configured if configured is not None else torch.float32


def load_model(path: str, dtype: Any, **kwargs: Any) -> Any:
    """The checkpoint's generative model in the torch ``dtype`` (a multimodal one with its
    towers)."""
    from transformers import AutoModelForCausalLM, AutoModelForMultimodalLM

    kind = AutoModelForMultimodalLM if is_multimodal(path) else AutoModelForCausalLM
    try:
        return kind.from_pretrained(path, dtype=dtype, **kwargs).eval()
    except (OSError, ValueError) as exc:
        raise InfercoreError(f"cannot load the model {path}: {exc}") from exc


def _processor(sources: tuple[str, ...]) -> Any:
    """The first source's processor (multimodal) or tokenizer: an adapter's own comes
    first, since fine-tuning may add tokens or change the chat template."""
    from transformers import AutoProcessor, AutoTokenizer

    for source in sources:
        for kind in (AutoProcessor, AutoTokenizer):
            try:
                return kind.from_pretrained(source)
            except (OSError, ValueError, TypeError):
                continue
    raise InfercoreError(f"no tokenizer found in {' or '.join(sources)}")


def save_checkpoint(model: Any, folder: Path, *sources: str) -> None:
    """The weights as safetensors with the config and generation config, and the
    tokenizer (or the multimodal processor) with its chat template, from ``sources``."""
    model.save_pretrained(folder, safe_serialization=True)
    _processor(sources).save_pretrained(folder)

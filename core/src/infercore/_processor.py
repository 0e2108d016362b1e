"""Finding a checkpoint's multimodal processor, for backends built on transformers' files."""

from __future__ import annotations

from typing import Any

__all__ = ["load_multimodal_processor"]


def load_multimodal_processor(model: str, *, trust_remote_code: bool = False) -> Any | None:
    """The checkpoint's multimodal processor, or None for a text-only model.

    A vision-language model is one whose config maps to an image-text-to-text
    model and that ships a processor with an image or video processor. Needs
    transformers, imported here so that the core itself does not.
    """
    from transformers import AutoConfig, AutoProcessor
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    config = AutoConfig.from_pretrained(model, trust_remote_code=trust_remote_code)
    if config.model_type not in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES:
        return None
    try:
        processor = AutoProcessor.from_pretrained(model, trust_remote_code=trust_remote_code)
    except (OSError, ValueError):
        return None
    if getattr(processor, "image_processor", None) is None and (
        getattr(processor, "video_processor", None) is None
    ):
        return None
    return processor

"""Finding a checkpoint's multimodal processor with transformers."""

from __future__ import annotations

from typing import Any

__all__ = ["load_multimodal_processor"]


def load_multimodal_processor(model: str, *, trust_remote_code: bool = False) -> Any | None:
    """The checkpoint's multimodal processor, or None for a text-only model.

    A multimodal model is one whose config maps to transformers' multimodal
    language models (image, video or audio in, text out) and that ships a
    processor with an image or video processor or an audio feature extractor.
    """
    from transformers import AutoConfig, AutoProcessor
    from transformers.models.auto.modeling_auto import MODEL_FOR_MULTIMODAL_LM_MAPPING_NAMES

    config = AutoConfig.from_pretrained(model, trust_remote_code=trust_remote_code)
    if config.model_type not in MODEL_FOR_MULTIMODAL_LM_MAPPING_NAMES:
        return None
    try:
        processor = AutoProcessor.from_pretrained(model, trust_remote_code=trust_remote_code)
    except (OSError, ValueError):
        return None
    parts = ("image_processor", "video_processor", "feature_extractor")
    if all(getattr(processor, part, None) is None for part in parts):
        return None
    return processor

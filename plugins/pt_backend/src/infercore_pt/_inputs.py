"""Turning a prepared request with media into model inputs through the model's processor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from infercore import PreparedRequest

__all__ = ["MediaInputs", "encode_media"]


@dataclass(frozen=True)
class MediaInputs:
    """A prompt whose media placeholders the processor expanded.

    ``prompt_ids`` holds the model's media tokens in place of each
    placeholder; ``tensors`` is everything else the processor made (such as
    ``pixel_values``, ``image_grid_thw``, ``input_features``), which
    only the prefill needs: decode steps read the media from the KV cache.
    """

    prompt_ids: tuple[int, ...]
    tensors: dict[str, torch.Tensor]

    def to(self, device: torch.device, dtype: torch.dtype) -> dict[str, torch.Tensor]:
        """The tensors on ``device``, floating ones in the model's ``dtype``."""
        return {
            name: value.to(device, dtype=dtype if value.is_floating_point() else value.dtype)
            for name, value in self.tensors.items()
        }


def _video_kwargs(videos: tuple[Any, ...]) -> dict[str, Any]:
    # The core already sampled the frames by fps under a frame cap; the
    # processor must not sample again, but needs each clip's timing to place
    # the frames in time.
    from transformers.video_utils import VideoMetadata

    metadata = [
        VideoMetadata(
            total_num_frames=clip.total_frames,
            fps=clip.source_fps,
            width=int(clip.frames.shape[2]),
            height=int(clip.frames.shape[1]),
            duration=clip.duration,
            frames_indices=list(clip.frame_indices),
        )
        for clip in videos
    ]
    return {
        "videos": [clip.frames for clip in videos],
        "video_metadata": metadata,
        "do_sample_frames": False,
    }


def encode_media(processor: Any, request: PreparedRequest) -> MediaInputs:
    """Run ``request``'s prompt and media through ``processor``, as one sequence."""
    kwargs: dict[str, Any] = {"text": [request.prompt], "return_tensors": "pt"}
    if request.images:
        kwargs["images"] = list(request.images)
    if request.videos:
        kwargs.update(_video_kwargs(request.videos))
    if request.audios:
        # The core resampled each clip to the feature extractor's own rate.
        kwargs["audio"] = list(request.audios)
        kwargs["sampling_rate"] = processor.feature_extractor.sampling_rate
    # The rendered chat template already carries its special tokens.
    encoded = processor(**kwargs, add_special_tokens=False)
    tensors = {name: value for name, value in encoded.items() if isinstance(value, torch.Tensor)}
    ids = tensors.pop("input_ids")[0]
    # One unpadded row: the batch builds its own attention mask.
    tensors.pop("attention_mask", None)
    return MediaInputs(tuple(int(i) for i in ids.tolist()), tensors)

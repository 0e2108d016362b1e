"""Turning a prepared request with media into model inputs through the model's processor."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from infercore import PreparedRequest
from infercore_pt._padding import left_pad

__all__ = ["MediaInputs", "encode_media", "stack_media"]


@dataclass(frozen=True)
class MediaInputs:
    """A prompt whose media placeholders the processor expanded.

    ``prompt_ids`` holds the model's media tokens in place of each
    placeholder; ``tensors`` is everything else the processor made (such as
    ``pixel_values``, ``image_grid_thw``, ``input_features``), which only the
    prefill needs: decode steps read the media from the KV cache. The
    ``per_token`` tensors have one value per prompt token (such as
    ``mm_token_type_ids``); the others have the media items along dimension 0.
    """

    prompt_ids: tuple[int, ...]
    tensors: dict[str, torch.Tensor]
    per_token: frozenset[str]

    def stacks_with(self, other: MediaInputs) -> bool:
        """Whether the two prompts' tensors concatenate into one prefill.

        So they do when the processor made the same tensors, each the same
        shape past dimension 0: the model then reads the items of a batch in
        row order, as from a batch the processor made itself.
        """
        if self.tensors.keys() != other.tensors.keys() or self.per_token != other.per_token:
            return False
        return all(
            name in self.per_token
            or (
                mine.shape[1:] == other.tensors[name].shape[1:]
                and mine.dtype == other.tensors[name].dtype
            )
            for name, mine in self.tensors.items()
        )


def stack_media(
    inputs: Sequence[MediaInputs], width: int, device: torch.device, dtype: torch.dtype
) -> dict[str, torch.Tensor]:
    """The tensors of prompts that stack, as one batch whose prompts are left-padded to
    ``width``; on ``device``, floating ones in the model's ``dtype``."""
    stacked: dict[str, torch.Tensor] = {}
    for name, first in inputs[0].tensors.items():
        parts = [media.tensors[name] for media in inputs]
        if name in inputs[0].per_token:
            parts = [left_pad(part, width, dim=1) for part in parts]
        value = torch.cat(parts) if len(parts) > 1 else first
        stacked[name] = value.to(device, dtype=dtype if value.is_floating_point() else value.dtype)
    return stacked


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
    ids = tensors.pop("input_ids")
    # One unpadded row: the batch builds its own attention mask.
    tensors.pop("attention_mask", None)
    per_token = frozenset(name for name, value in tensors.items() if value.shape == ids.shape)
    return MediaInputs(tuple(int(i) for i in ids[0].tolist()), tensors, per_token)

"""A batch of sequences decoding together over one left-padded KV cache.

Sequences join a running batch after their own prefill (the two caches are
left-padded to one length and concatenated) and leave it when they finish,
so the batch keeps decoding while its members change.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import transformers
from packaging.version import Version
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from infercore_pt._inputs import MediaInputs, stack_media
from infercore_pt._padding import left_pad

__all__ = ["Batch"]

# The models' name for the KV cache argument: transformers 5.24 renamed
# `past_key_values` to `cache` (the old name warns, and goes in 5.40).
_RENAMED = Version(transformers.__version__) >= Version("5.24.0.dev0")
_CACHE = "cache" if _RENAMED else "past_key_values"


def _multimodal_rope(model: Any) -> Any | None:
    """The inner model, if it places media tokens on a grid of rotary positions.

    Such models (Qwen2-VL and its kin) compute a media prompt's positions
    themselves, from the attention mask, and keep each row's offset between
    its next position and its length in ``rope_deltas`` (transformers'
    convention), which decoding must add, as ``generate`` does.
    """
    inner = getattr(model, "model", None)
    return inner if inner is not None and hasattr(inner, "rope_deltas") else None


class Batch:
    """The model inputs of the sequences now decoding; rows follow ``members``."""

    def __init__(
        self,
        members: list[Any],
        cache: DynamicCache,
        mask: torch.Tensor,
        positions: torch.Tensor,
        pending: torch.Tensor,
    ) -> None:
        self.members = members
        self.cache = cache
        self.mask = mask  # [rows, cache length]: 1 for real tokens, 0 for left padding
        self.positions = positions  # [rows]: the position id of the pending token
        self.pending = pending  # [rows]: the last sampled token, not yet fed to the model

    @classmethod
    def prefill(
        cls,
        model: Any,
        members: list[Any],
        prompts: Sequence[Sequence[int]],
        pad_id: int,
        media: Sequence[MediaInputs] | None = None,
    ) -> tuple[Batch, torch.Tensor]:
        """Run the prompts through the model; return the batch and the next-token logits.

        ``media`` holds, for every prompt, the processor's tensors that fill
        in its media tokens; such prompts must stack (``MediaInputs.stacks_with``).
        """
        device = model.device
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, prompt in enumerate(prompts):
            ids[row, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
            mask[row, width - len(prompt) :] = 1
        ids, mask = ids.to(device), mask.to(device)
        inputs: dict[str, Any] = {}
        rope = None
        if media is not None:
            inputs.update(stack_media(media, width, device, model.dtype))
            rope = _multimodal_rope(model)
        if rope is not None:
            # The model places the rows itself; a stale offset must not leak in.
            rope.rope_deltas = None
        else:
            inputs["position_ids"] = (mask.cumsum(dim=-1) - 1).clamp(min=0)
        cache = DynamicCache()
        inputs[_CACHE] = cache
        output = model(
            input_ids=ids, attention_mask=mask, use_cache=True, logits_to_keep=1, **inputs
        )
        positions = mask.sum(dim=-1)
        if rope is not None and rope.rope_deltas is not None:
            positions = positions + rope.rope_deltas.reshape(-1).to(positions)
        empty = torch.zeros(len(prompts), dtype=torch.long, device=device)
        return cls(members, cache, mask, positions, empty), output.logits[:, -1, :]

    def step(self, model: Any) -> torch.Tensor:
        """Feed every pending token; return the next-token logits of each row."""
        ones = self.mask.new_ones((self.mask.shape[0], 1))
        self.mask = torch.cat([self.mask, ones], dim=-1)
        output = model(
            input_ids=self.pending.unsqueeze(1),
            attention_mask=self.mask,
            position_ids=self.positions.unsqueeze(1),
            use_cache=True,
            **{_CACHE: self.cache},
        )
        self.positions = self.positions + 1
        return output.logits[:, -1, :]

    @property
    def can_merge(self) -> bool:
        # Sliding-window and other special layers keep their own bookkeeping
        # that padding would break; such models batch without joining.
        return all(type(layer) is DynamicLayer for layer in self.cache.layers)

    def merge(self, other: Batch) -> None:
        """Append ``other``'s rows; both caches are left-padded to one length."""
        width = max(self.mask.shape[1], other.mask.shape[1])
        self.mask = torch.cat([left_pad(self.mask, width, 1), left_pad(other.mask, width, 1)])
        for mine, theirs in zip(self.cache.layers, other.cache.layers, strict=True):
            mine.keys = torch.cat([left_pad(mine.keys, width, 2), left_pad(theirs.keys, width, 2)])
            mine.values = torch.cat(
                [left_pad(mine.values, width, 2), left_pad(theirs.values, width, 2)]
            )
        self.positions = torch.cat([self.positions, other.positions])
        self.pending = torch.cat([self.pending, other.pending])
        self.members.extend(other.members)

    def keep(self, rows: list[int]) -> None:
        """Keep only ``rows``, and drop padding columns that no remaining row needs."""
        if len(rows) == len(self.members):
            return
        index = torch.tensor(rows, dtype=torch.long, device=self.mask.device)
        self.mask = self.mask[index]
        start = 0
        if self.can_merge:
            used = self.mask.any(dim=0).nonzero()
            start = int(used[0]) if len(used) else 0
            self.mask = self.mask[:, start:]
        for layer in self.cache.layers:
            layer.batch_select_indices(index)
            if start:
                layer.keys = layer.keys[:, :, start:, :]
                layer.values = layer.values[:, :, start:, :]
        self.positions = self.positions[index]
        self.pending = self.pending[index]
        self.members = [self.members[i] for i in rows]

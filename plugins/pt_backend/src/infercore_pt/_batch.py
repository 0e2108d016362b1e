"""A batch of sequences decoding together over one left-padded KV cache.

Sequences join a running batch after their own prefill (the two caches are
left-padded to one length and concatenated) and leave it when they finish,
so the batch keeps decoding while its members change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

__all__ = ["Batch"]


def _left_pad(tensor: torch.Tensor, width: int, dim: int) -> torch.Tensor:
    missing = width - tensor.shape[dim]
    if missing <= 0:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = missing
    return torch.cat([tensor.new_zeros(shape), tensor], dim=dim)


def _set_rope_deltas(model: Any, value: torch.Tensor | None) -> None:
    inner = getattr(model, "model", None)
    if inner is not None and hasattr(inner, "rope_deltas"):
        inner.rope_deltas = value


def _rope_deltas(model: Any, positions: torch.Tensor) -> torch.Tensor:
    """How far each row's next position lies from its length, after a media prefill.

    Models with multimodal rotary positions (Qwen2-VL and its kin) give a
    media item's tokens grid coordinates, so a prompt's last position is not
    its length less one. Such a model keeps the offset of each row in
    ``rope_deltas`` (transformers' convention), which decoding must add, as
    ``generate`` does.
    """
    deltas = getattr(getattr(model, "model", None), "rope_deltas", None)
    if deltas is None:
        return torch.zeros_like(positions)
    return deltas.reshape(-1).to(positions.device, positions.dtype)


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
        media: Mapping[str, torch.Tensor] | None = None,
    ) -> tuple[Batch, torch.Tensor]:
        """Run the prompts through the model; return the batch and the next-token logits.

        ``media`` holds the processor's tensors (``pixel_values``, ...) for a
        single prompt whose media tokens they fill in.
        """
        device = model.device
        width = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), width), dtype=torch.long)
        for row, prompt in enumerate(prompts):
            ids[row, width - len(prompt) :] = torch.tensor(prompt, dtype=torch.long)
            mask[row, width - len(prompt) :] = 1
        ids, mask = ids.to(device), mask.to(device)
        inputs: dict[str, Any]
        if media is None:
            inputs = {"position_ids": (mask.cumsum(dim=-1) - 1).clamp(min=0)}
        else:
            # A media prompt is one unpadded row, so the model may place its
            # tokens itself, as some must (Qwen2-VL's rotary positions follow
            # the image grid).
            assert len(prompts) == 1, "a prompt with media is prefilled on its own"
            inputs = dict(media)
            _set_rope_deltas(model, None)
        output = model(
            input_ids=ids,
            attention_mask=mask,
            past_key_values=DynamicCache(),
            use_cache=True,
            logits_to_keep=1,
            **inputs,
        )
        positions = mask.sum(dim=-1)
        if media is not None:
            positions = positions + _rope_deltas(model, positions)
        empty = torch.zeros(len(prompts), dtype=torch.long, device=device)
        return cls(members, output.past_key_values, mask, positions, empty), output.logits[:, -1, :]

    def step(self, model: Any) -> torch.Tensor:
        """Feed every pending token; return the next-token logits of each row."""
        ones = self.mask.new_ones((self.mask.shape[0], 1))
        self.mask = torch.cat([self.mask, ones], dim=-1)
        output = model(
            input_ids=self.pending.unsqueeze(1),
            attention_mask=self.mask,
            position_ids=self.positions.unsqueeze(1),
            past_key_values=self.cache,
            use_cache=True,
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
        self.mask = torch.cat([_left_pad(self.mask, width, 1), _left_pad(other.mask, width, 1)])
        for mine, theirs in zip(self.cache.layers, other.cache.layers, strict=True):
            mine.keys = torch.cat(
                [_left_pad(mine.keys, width, 2), _left_pad(theirs.keys, width, 2)]
            )
            mine.values = torch.cat(
                [_left_pad(mine.values, width, 2), _left_pad(theirs.values, width, 2)]
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

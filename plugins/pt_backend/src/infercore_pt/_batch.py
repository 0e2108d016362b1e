"""A batch of sequences decoding together over one left-padded KV cache.

Sequences join a running batch after their own prefill (``Prefill``; the two
caches are left-padded to one length and concatenated) and leave it when they
finish, so the batch keeps decoding while its members change.
"""

from __future__ import annotations

from typing import Any

import torch
import transformers
from packaging.version import Version
from transformers import DynamicCache
from transformers.cache_utils import DynamicLayer

from infercore_pt._padding import left_pad

__all__ = ["CACHE_ARGUMENT", "Batch"]

# The models' name for the KV cache argument: transformers 5.24 renamed
# `past_key_values` to `cache` (the old name warns, and goes in 5.40).
_RENAMED = Version(transformers.__version__) >= Version("5.24.0.dev0")
CACHE_ARGUMENT = "cache" if _RENAMED else "past_key_values"


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
        self.mask = mask  # [rows, cache length]: 1 for real tokens, 0 for padding
        self.positions = positions  # [rows]: the position id of the pending token
        self.pending = pending  # [rows]: the last sampled token, not yet fed to the model

    def step(self, model: Any) -> torch.Tensor:
        """Feed every pending token; return the next-token logits of each row."""
        ones = self.mask.new_ones((self.mask.shape[0], 1))
        self.mask = torch.cat([self.mask, ones], dim=-1)
        output = model(
            input_ids=self.pending.unsqueeze(1),
            attention_mask=self.mask,
            position_ids=self.positions.unsqueeze(1),
            use_cache=True,
            **{CACHE_ARGUMENT: self.cache},
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

"""Sequences entering the running batch: their prompts fed to the model, in chunks
where a long prompt would stall the streams already decoding.

Each row's cache holds first the KV that the prefix cache served it, right-aligned
in as many columns as the longest served prefix, then the rest of its prompt,
left-padded to the longest rest. The attention mask marks both paddings, so the
rows attend only to their own tokens, and position ids carry on from each served
prefix, so a row's tokens sit where they would in a prefill of the whole prompt.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers import DynamicCache

from infercore_pt._batch import CACHE_ARGUMENT, Batch
from infercore_pt._inputs import MediaInputs, stack_media
from infercore_pt._prefix_cache import CachedPrefix, LayerKV

__all__ = ["Prefill", "prompt_kv"]


def _multimodal_rope(model: Any) -> Any | None:
    """The inner model, if it places media tokens on a grid of rotary positions.

    Such models (Qwen2-VL and its kin) compute a media prompt's positions
    themselves, from the attention mask, and keep each row's offset between
    its next position and its length in ``rope_deltas`` (transformers'
    convention), which decoding must add, as ``generate`` does.
    """
    inner = getattr(model, "model", None)
    return inner if inner is not None and hasattr(inner, "rope_deltas") else None


def _served_cache(served: Sequence[CachedPrefix | None], width: int) -> DynamicCache:
    """A cache whose rows start with their served prefixes, right-aligned in ``width``."""
    cache = DynamicCache()
    if width == 0:
        return cache
    first = next(prefix for prefix in served if prefix is not None)
    for layer, (keys, values) in enumerate(first.layers):
        heads, _, head_dim = keys.shape
        shape = (len(served), heads, width, head_dim)
        all_keys, all_values = keys.new_zeros(shape), values.new_zeros(shape)
        for row, prefix in enumerate(served):
            if prefix is not None:
                row_keys, row_values = prefix.layers[layer]
                all_keys[row, :, width - prefix.length :] = row_keys
                all_values[row, :, width - prefix.length :] = row_values
        cache.update(all_keys, all_values, layer)
    return cache


class Prefill:
    """The prompts of ``members`` on their way into a batch (see the module's notes).

    ``served`` holds, per row, the prefix that the prefix cache had for its prompt;
    ``media`` the processor's tensors of prompts with media, which are fed whole
    and never served from the prefix cache (their tokens stand for pixels).
    """

    def __init__(
        self,
        model: Any,
        members: list[Any],
        prompts: Sequence[Sequence[int]],
        pad_id: int,
        media: Sequence[MediaInputs] | None = None,
        served: Sequence[CachedPrefix | None] | None = None,
    ) -> None:
        served = served if served is not None else [None] * len(prompts)
        if media is not None and any(prefix is not None for prefix in served):
            raise ValueError("prompts with media are fed whole, never from the prefix cache")
        device = model.device
        self.members = members
        self.prompts = prompts
        self._media = media
        lengths = [prefix.length if prefix is not None else 0 for prefix in served]
        self._served_width = max(lengths)
        rests = [prompt[length:] for prompt, length in zip(prompts, lengths, strict=True)]
        width = max(len(rest) for rest in rests)
        ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), self._served_width + width), dtype=torch.long)
        for row, (rest, length) in enumerate(zip(rests, lengths, strict=True)):
            ids[row, width - len(rest) :] = torch.tensor(rest, dtype=torch.long)
            mask[row, self._served_width - length : self._served_width] = 1
            mask[row, mask.shape[1] - len(rest) :] = 1
        self._ids, self._mask = ids.to(device), mask.to(device)
        rest_mask = self._mask[:, self._served_width :]
        starts = torch.tensor(lengths, dtype=torch.long, device=device).unsqueeze(1)
        self._positions = (starts + rest_mask.cumsum(dim=-1) - 1).clamp(min=0)
        self._cache = _served_cache(served, self._served_width)
        self._fed = 0

    @property
    def width(self) -> int:
        """Prompt columns still to feed after what the prefix cache served."""
        return self._ids.shape[1]

    def feed(self, model: Any, columns: int | None) -> tuple[Batch, torch.Tensor] | None:
        """Feed up to ``columns`` more prompt columns (None: all that are left).

        Returns None while columns are left; after the last, the batch that the rows
        decode in and their next-token logits."""
        start = self._fed
        end = self.width if columns is None or self._media is not None else start + columns
        end = min(end, self.width)
        mask = self._mask[:, : self._served_width + end]
        inputs: dict[str, Any] = {CACHE_ARGUMENT: self._cache}
        rope = None
        if self._media is not None:
            inputs.update(stack_media(self._media, self.width, model.device, model.dtype))
            rope = _multimodal_rope(model)
        if rope is not None:
            # The model places the rows itself; a stale offset must not leak in.
            rope.rope_deltas = None
        else:
            inputs["position_ids"] = self._positions[:, start:end]
        output = model(
            input_ids=self._ids[:, start:end],
            attention_mask=mask,
            use_cache=True,
            logits_to_keep=1,
            **inputs,
        )
        self._fed = end
        if end < self.width:
            return None
        positions = self._mask.sum(dim=-1)
        if rope is not None and rope.rope_deltas is not None:
            positions = positions + rope.rope_deltas.reshape(-1).to(positions)
        pending = torch.zeros(len(self.prompts), dtype=torch.long, device=self._mask.device)
        batch = Batch(self.members, self._cache, self._mask, positions, pending)
        return batch, output.logits[:, -1, :]


def prompt_kv(batch: Batch, row: int, tokens: int) -> list[LayerKV]:
    """The KV of the first ``tokens`` tokens of ``row``'s prompt, every layer, from a
    batch fresh from its prefill."""
    columns = batch.mask[row].nonzero().squeeze(1)[:tokens]
    return [
        (layer.keys[row].index_select(1, columns), layer.values[row].index_select(1, columns))
        for layer in batch.cache.layers
    ]

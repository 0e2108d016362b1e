"""The KV cache of a batch: transformers' DynamicCache, with layers that grow in place.

A DynamicLayer concatenates each step's keys and values onto the whole cache, a copy
of every row's every past token per layer and step, which costs about as much as
the step's own work once prompts are a few hundred tokens long. These layers keep
their keys and values as views of buffers with room for ``HEADROOM`` more tokens,
so a step writes only its own token, and the buffers are copied once per
``HEADROOM`` steps.
"""

from __future__ import annotations

from typing import Any

import torch
from transformers import DynamicCache
from transformers.cache_utils import Cache, DynamicLayer

__all__ = ["GrowingLayer", "new_cache"]

#: Tokens a layer's buffers hold beyond its length: the steps between two copies.
HEADROOM = 64


class GrowingLayer(DynamicLayer):  # type: ignore[misc]  # transformers is untyped here
    """A DynamicLayer whose ``keys`` and ``values`` are views of larger buffers.

    A batch's join and leave go through ``join`` and ``keep``, one copy each. Code
    that assigns ``keys`` and ``values`` anew (transformers' own ``crop``, for one)
    stays correct: the next update finds them no longer views of the buffers and
    takes them into new ones.
    """

    _key_buffer: torch.Tensor
    _value_buffer: torch.Tensor

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        length = self.get_seq_length()
        end = length + key_states.shape[-2]
        if not self._owns_views() or end > self._key_buffer.shape[-2]:
            self._take(end + HEADROOM, key_states, value_states)
        self._key_buffer[:, :, length:end] = key_states
        self._value_buffer[:, :, length:end] = value_states
        self._view(end)
        return self.keys, self.values

    def keep(self, rows: torch.Tensor, start: int) -> None:
        """Keep only ``rows``, from column ``start`` on, in one copy into buffers that
        keep their room to grow."""
        length = self.get_seq_length()
        if length == 0:  # a layer the model never wrote (one that shares another's KV)
            return
        if not self._owns_views():
            self._take(length, self.keys, self.values)
        self._key_buffer = self._key_buffer[rows, :, start:]
        self._value_buffer = self._value_buffer[rows, :, start:]
        self._view(length - start)

    def join(self, other: GrowingLayer, width: int) -> None:
        """Append ``other``'s rows, every row's tokens right-aligned in ``width`` columns
        (left padding, zeros), in one copy into new buffers."""
        if self.get_seq_length() == 0:  # a layer the model never wrote
            return
        rows = self.keys.shape[0]
        buffers = []
        for mine, theirs in ((self.keys, other.keys), (self.values, other.values)):
            _, heads, _, head_dim = mine.shape
            shape = (rows + theirs.shape[0], heads, width + HEADROOM, head_dim)
            buffer = mine.new_zeros(shape)
            buffer[:rows, :, width - mine.shape[-2] : width] = mine
            buffer[rows:, :, width - theirs.shape[-2] : width] = theirs
            buffers.append(buffer)
        self._key_buffer, self._value_buffer = buffers
        self._view(width)

    def _owns_views(self) -> bool:
        return (
            hasattr(self, "_key_buffer")
            and self.keys.data_ptr() == self._key_buffer.data_ptr()
            and self.values.data_ptr() == self._value_buffer.data_ptr()
            and self.keys.shape[0] == self._key_buffer.shape[0]
            and self.keys.shape[-2] <= self._key_buffer.shape[-2]
        )

    def _take(self, capacity: int, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        """New buffers of ``capacity`` tokens, shaped as the step's states, starting with
        the current keys and values."""
        length = self.get_seq_length()
        buffers = []
        for current, states in ((self.keys, key_states), (self.values, value_states)):
            batch, heads, _, head_dim = states.shape
            buffer = states.new_empty((batch, heads, capacity, head_dim))
            if length:
                buffer[:, :, :length] = current
            buffers.append(buffer)
        self._key_buffer, self._value_buffer = buffers

    def _view(self, length: int) -> None:
        self.keys = self._key_buffer[:, :, :length]
        self.values = self._value_buffer[:, :, :length]


def new_cache() -> DynamicCache:
    """An empty cache whose layers are ``GrowingLayer``s, made as the model asks."""
    cache = DynamicCache()
    Cache.__init__(cache, layer_class_to_replicate=GrowingLayer)
    return cache

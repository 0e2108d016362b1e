"""The KV of prompts kept for later prompts that start the same way: a system prompt
shared by many requests, the earlier turns of a chat.

Prompts are cut in blocks of ``BLOCK`` tokens and each block is known by a hash of
it and every block before it (as vLLM does), so a prompt finds the longest cached
prefix that ends on a block boundary, whichever earlier prompt left it. The cache
holds at most ``max_tokens`` tokens' KV and drops the least recently used prompt
first.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass

import torch

__all__ = ["BLOCK", "CachedPrefix", "LayerKV", "PrefixCache"]

#: Tokens per block: the granularity at which prefixes are shared.
BLOCK = 16

#: One layer's keys and values of a prefix, each [kv heads, tokens, head dim].
LayerKV = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class CachedPrefix:
    """The first ``length`` tokens of a prompt, with their KV for every layer."""

    length: int
    layers: list[LayerKV]


@dataclass(eq=False)
class _Entry:
    tokens: tuple[int, ...]
    layers: list[LayerKV]
    hashes: list[int]


def _block_hashes(key: Hashable, prompt: Sequence[int], blocks: int) -> Iterator[int]:
    # The key (the LoRA adapter) seeds the chain: the same tokens under another
    # adapter have other KV.
    chained = hash(("infercore-prefix", key))
    for start in range(0, blocks * BLOCK, BLOCK):
        chained = hash((chained, tuple(prompt[start : start + BLOCK])))
        yield chained


class PrefixCache:
    """KV of earlier prompts, found by their block-aligned prefixes, evicted LRU."""

    def __init__(self, max_tokens: int) -> None:
        self._max_tokens = max_tokens
        self._tokens = 0
        self._entries: OrderedDict[int, _Entry] = OrderedDict()  # by id, oldest use first
        # Every entry that holds a block, by the block's hash: many prompts hold the
        # blocks of a shared system prompt, and any of them can serve it.
        self._by_hash: dict[int, list[_Entry]] = {}

    @property
    def tokens(self) -> int:
        """Tokens whose KV the cache holds now."""
        return self._tokens

    def lookup(self, key: Hashable, prompt: Sequence[int]) -> CachedPrefix | None:
        """The longest cached prefix of ``prompt``, short of its last token (whose
        logits the model must still compute)."""
        found: tuple[_Entry, int] | None = None
        usable = (len(prompt) - 1) // BLOCK
        for blocks, block_hash in enumerate(_block_hashes(key, prompt, usable), 1):
            holders = self._by_hash.get(block_hash)
            if holders:
                found = (holders[-1], blocks * BLOCK)
        if found is None:
            return None
        entry, length = found
        if entry.tokens[:length] != tuple(prompt[:length]):
            return None  # two prefixes that share a hash
        self._entries.move_to_end(id(entry))
        return CachedPrefix(length, [(k[:, :length], v[:, :length]) for k, v in entry.layers])

    def store(
        self, key: Hashable, prompt: Sequence[int], read: Callable[[int], list[LayerKV]]
    ) -> None:
        """Keep the KV of ``prompt``'s block-aligned part, which ``read(tokens)`` gives
        for its first ``tokens`` tokens; a prefix already held is only marked as used."""
        blocks = len(prompt) // BLOCK
        length = blocks * BLOCK
        if length == 0 or length > self._max_tokens:
            return
        hashes = list(_block_hashes(key, prompt, blocks))
        for held in self._by_hash.get(hashes[-1], ()):
            if held.tokens == tuple(prompt[:length]):
                self._entries.move_to_end(id(held))
                return
        entry = _Entry(tuple(prompt[:length]), read(length), hashes)
        self._entries[id(entry)] = entry
        for block_hash in hashes:
            self._by_hash.setdefault(block_hash, []).append(entry)
        self._tokens += length
        while self._tokens > self._max_tokens:
            self._evict(next(iter(self._entries.values())))

    def _evict(self, entry: _Entry) -> None:
        del self._entries[id(entry)]
        self._tokens -= len(entry.tokens)
        for block_hash in entry.hashes:
            holders = self._by_hash[block_hash]
            holders.remove(entry)
            if not holders:
                del self._by_hash[block_hash]

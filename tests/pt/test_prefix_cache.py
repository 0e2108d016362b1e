"""The pt backend's prefix cache on its own: block-aligned lookups, adapters kept apart,
a bound on the tokens it holds, least recently used prompts evicted first."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from infercore_pt._prefix_cache import BLOCK, LayerKV, PrefixCache  # noqa: E402  needs torch

LAYERS = 2
SHARED = list(range(1000, 1000 + 2 * BLOCK))  # two blocks every prompt below starts with


def kv_of(prompt: list[int]) -> list[LayerKV]:
    """Stand-in KV whose every token's vectors hold the token id (and the layer)."""
    tokens = torch.tensor(prompt, dtype=torch.float32)
    return [
        (tokens.view(1, -1, 1).expand(3, -1, 4) + layer, -tokens.view(1, -1, 1).expand(3, -1, 4))
        for layer in range(LAYERS)
    ]


def store(cache: PrefixCache, prompt: list[int], key: object = None) -> list[int]:
    """Store ``prompt``; return the token counts the cache read KV for."""
    reads: list[int] = []

    def read(tokens: int) -> list[LayerKV]:
        reads.append(tokens)
        return [(k[:, :tokens], v[:, :tokens]) for k, v in kv_of(prompt)]

    cache.store(key, prompt, read)
    return reads


def served(cache: PrefixCache, prompt: list[int], key: object = None) -> int:
    """How many of ``prompt``'s tokens the cache serves."""
    found = cache.lookup(key, prompt)
    return 0 if found is None else found.length


def test_a_prompt_finds_the_block_aligned_prefix_another_left_and_its_kv() -> None:
    cache = PrefixCache(max_tokens=1000)
    first = [*SHARED, 1, 2, 3, 4, 5]
    assert served(cache, first) == 0
    assert store(cache, first) == [2 * BLOCK]
    assert cache.tokens == 2 * BLOCK

    assert served(cache, [*SHARED[:-1], 7, 8]) == BLOCK  # the second block differs
    assert served(cache, [*SHARED, 9]) == 2 * BLOCK
    found = cache.lookup(None, [*SHARED, 9])
    assert found is not None
    for layer, (keys, values) in enumerate(found.layers):
        assert keys.shape == (3, 2 * BLOCK, 4)
        assert torch.equal(keys[0, :, 0], torch.tensor(SHARED, dtype=torch.float32) + layer)
        assert torch.equal(values, -keys + layer)


def test_the_last_token_of_a_prompt_is_never_served() -> None:
    # Its logits start the answer, so the model must see it.
    cache = PrefixCache(max_tokens=1000)
    store(cache, SHARED)
    assert served(cache, SHARED) == BLOCK
    assert served(cache, SHARED[:BLOCK]) == 0


def test_prompts_under_another_adapter_share_nothing() -> None:
    cache = PrefixCache(max_tokens=1000)
    store(cache, [*SHARED, 1], key="adapter-a")
    assert served(cache, [*SHARED, 1], key="adapter-b") == 0
    assert served(cache, [*SHARED, 1]) == 0
    assert served(cache, [*SHARED, 1], key="adapter-a") == 2 * BLOCK


def test_a_prefix_already_held_is_not_read_again() -> None:
    cache = PrefixCache(max_tokens=1000)
    assert store(cache, [*SHARED, 1]) == [2 * BLOCK]
    assert store(cache, [*SHARED, 2]) == []  # the same two blocks
    assert cache.tokens == 2 * BLOCK


def test_the_least_recently_used_prompt_goes_first_and_the_bound_holds() -> None:
    cache = PrefixCache(max_tokens=4 * BLOCK)
    a, b, c = ([*SHARED, *[n] * BLOCK, 0] for n in (1, 2, 3))  # three blocks each
    store(cache, a)
    assert served(cache, a) == 3 * BLOCK
    store(cache, b)  # past the bound: a, the oldest, goes
    assert cache.tokens == 3 * BLOCK
    assert served(cache, a) == 2 * BLOCK  # the blocks it shared with b
    store(cache, c)  # b goes; the shared blocks stay with c
    assert cache.tokens == 3 * BLOCK
    assert served(cache, b) == 2 * BLOCK
    assert served(cache, c) == 3 * BLOCK


def test_a_recent_use_keeps_a_prompt_in() -> None:
    cache = PrefixCache(max_tokens=2 * BLOCK + 1)
    a, b = [1] * (BLOCK + 1), [2] * (BLOCK + 1)
    store(cache, a)
    store(cache, b)
    assert served(cache, a) == BLOCK  # a is now the more recent
    store(cache, [3] * (BLOCK + 1))
    assert served(cache, a) == BLOCK
    assert served(cache, b) == 0


def test_a_prompt_longer_than_the_whole_cache_is_not_kept() -> None:
    cache = PrefixCache(max_tokens=BLOCK)
    assert store(cache, [*SHARED, 1]) == []
    assert cache.tokens == 0

"""The pt backend's cache layers that grow in place: the same keys and values as
transformers' DynamicLayer, without a copy of the whole cache per step."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from transformers.cache_utils import DynamicLayer  # noqa: E402  needs torch

from infercore_pt._cache import HEADROOM, GrowingLayer, new_cache  # noqa: E402


def states(rows: int, tokens: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    keys = torch.randn(rows, 3, tokens, 8, generator=generator)
    return keys, torch.randn(rows, 3, tokens, 8, generator=generator)


def grown(layer: DynamicLayer, steps: list[int], rows: int = 2) -> DynamicLayer:
    for seed, tokens in enumerate(steps):
        layer.update(*states(rows, tokens, seed))
    return layer


def test_a_growing_layer_holds_what_a_dynamic_layer_holds() -> None:
    steps = [5, *[1] * (HEADROOM + 10), 7, 1]  # a prefill, decode steps past the room, a chunk
    mine, theirs = grown(GrowingLayer(), steps), grown(DynamicLayer(), steps)
    assert mine.get_seq_length() == theirs.get_seq_length() == sum(steps)
    assert torch.equal(mine.keys, theirs.keys)
    assert torch.equal(mine.values, theirs.values)


def test_decode_steps_write_in_place_until_the_room_is_used() -> None:
    layer = grown(GrowingLayer(), [5])
    storage = layer.keys.data_ptr()
    for seed in range(HEADROOM):
        layer.update(*states(2, 1, 100 + seed))
        assert layer.keys.data_ptr() == storage
    layer.update(*states(2, 1, 999))
    assert layer.keys.data_ptr() != storage  # taken into new buffers, once


def test_keep_and_join_match_selecting_and_left_padding() -> None:
    mine = grown(GrowingLayer(), [6, 1, 1], rows=3)
    reference = mine.keys.clone()
    mine.keep(torch.tensor([0, 2]), start=2)
    assert torch.equal(mine.keys, reference[[0, 2], :, 2:])

    other = grown(GrowingLayer(), [3], rows=1)
    mine.join(other, width=9)
    assert mine.keys.shape == (3, 3, 9, 8)
    assert torch.equal(mine.keys[:2, :, 3:], reference[[0, 2], :, 2:])
    assert torch.equal(mine.keys[2, :, 6:], other.keys[0])
    assert not mine.keys[:2, :, :3].any()
    assert not mine.keys[2, :, :6].any()  # padding is zeros, never uninitialised memory
    # It goes on growing in place after both.
    storage = mine.keys.data_ptr()
    mine.update(*states(3, 1, 7))
    assert mine.keys.data_ptr() == storage
    assert mine.get_seq_length() == 10


def test_a_new_cache_makes_growing_layers() -> None:
    cache = new_cache()
    cache.update(*states(1, 4, 0), layer_idx=0)
    cache.update(*states(1, 4, 1), layer_idx=1)
    assert [type(layer) for layer in cache.layers] == [GrowingLayer, GrowingLayer]
    assert cache.get_seq_length() == 4

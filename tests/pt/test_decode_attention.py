"""The pt backend's decode attention: equal to transformers' sdpa on the real SmolLM2 over
rows of very different lengths, chosen only in place of the default kernel."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from infercore import Engine

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from transformers import AutoModelForCausalLM  # noqa: E402  (after the skips above)
from transformers.integrations.sdpa_attention import sdpa_attention_forward  # noqa: E402

from infercore_pt import _decode_attention as decode  # noqa: E402
from infercore_pt import _smollm2  # noqa: E402
from infercore_pt._batch import CACHE_ARGUMENT, Batch  # noqa: E402
from infercore_pt._cache import new_cache  # noqa: E402

MODEL = "smollm2-135m-instruct"
#: Real tokens per row: one long row among short ones, as when a long prompt joins streams.
LENGTHS = [7, 300, 12, 290, 600, 5]
STEPS = 6


class _Module(torch.nn.Module):
    """What the attention functions read from a model's attention layer."""

    num_key_value_groups = 3
    is_causal = True


def _decode_rows(lengths: list[int], holes: bool) -> tuple[Any, Any, Any, Any]:
    """A decode step's query, keys, values and 4D boolean mask: left padding, and with
    ``holes`` a gap inside some rows (a served prefix, then the padded rest of a prompt)."""
    generator = torch.Generator().manual_seed(0)
    rows, width = len(lengths), max(lengths)
    query = torch.randn(rows, 9, 1, 64, generator=generator)
    key = torch.randn(rows, 3, width, 64, generator=generator)
    value = torch.randn(rows, 3, width, 64, generator=generator)
    mask = torch.zeros(rows, width, dtype=torch.bool)
    for row, length in enumerate(lengths):
        mask[row, width - length :] = True
        if holes and length > 4 and row % 2:
            mask[row, width - length + 1 : width - length + 3] = False
    return query, key, value, mask[:, None, None, :]


@pytest.mark.parametrize("holes", [False, True])
def test_a_step_equals_sdpa_on_rows_of_very_different_lengths(holes: bool) -> None:
    query, key, value, mask = _decode_rows([3, 40, 41, 900, 2, 39, 40, 41], holes)
    module = _Module()
    expected, _ = sdpa_attention_forward(module, query, key, value, mask, scaling=0.125)
    got, _ = decode.decode_attention(module, query, key, value, mask, scaling=0.125)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_without_a_mask_and_for_prefill_it_equals_sdpa() -> None:
    query, key, value, _ = _decode_rows([30, 30], holes=False)
    module = _Module()
    for q in (query, torch.randn(2, 9, 5, 64)):
        k, v = key[:, :, : max(q.shape[2], 30)], value[:, :, : max(q.shape[2], 30)]
        expected, _ = sdpa_attention_forward(module, q, k, v, None, scaling=0.125)
        got, _ = decode.decode_attention(module, q, k, v, None, scaling=0.125)
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_runs_follow_the_rows_real_lengths() -> None:
    # Sixteen short rows, then one long one: two runs, the short ones over their own columns.
    starts = [1500] * 16 + [0]
    runs = decode.plan_runs(starts, [True] * 17, 1800)
    assert runs == [(0, 16, 1500, False), (16, 17, 0, False)]
    # Rows a few columns apart share a run (and a mask) rather than pay for another call.
    assert decode.plan_runs([10, 11, 12], [True] * 3, 100) == [(0, 3, 10, True)]
    # Every row is covered once, in order, whatever the starts.
    starts = [5, 900, 0, 899, 3, 1000, 1000]
    runs = decode.plan_runs(starts, [True] * 7, 1001)
    assert [r for begin, end, *_ in runs for r in range(begin, end)] == list(range(7))
    assert all(first <= min(starts[begin:end]) for begin, end, first, _ in runs)
    # A batch larger than a run splits into runs of at most LONGEST_RUN rows.
    rows = 2 * decode.LONGEST_RUN + 1
    runs = decode.plan_runs([0] * rows, [True] * rows, 10)
    sizes = [end - begin for begin, end, *_ in runs]
    assert sum(sizes) == rows
    assert len(sizes) == 3
    assert max(sizes) <= decode.LONGEST_RUN


@pytest.fixture(scope="module")
def model() -> Any:
    return AutoModelForCausalLM.from_pretrained(_smollm2.resolve(), dtype=torch.float32).eval()


def _prefill(model: Any, lengths: list[int]) -> Batch:
    """Rows of ``lengths`` prompt tokens, left-padded, prefilled with transformers' sdpa."""
    generator = torch.Generator().manual_seed(1)
    rows, width = len(lengths), max(lengths)
    ids = torch.randint(100, 20_000, (rows, width), generator=generator)
    mask = torch.zeros(rows, width, dtype=torch.long)
    for row, length in enumerate(lengths):
        mask[row, width - length :] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    cache = new_cache()
    model.set_attn_implementation("sdpa")
    with torch.inference_mode():
        output = model(
            input_ids=ids,
            attention_mask=mask,
            position_ids=positions,
            use_cache=True,
            **{CACHE_ARGUMENT: cache},
        )
    pending = output.logits[:, -1].argmax(-1)
    return Batch(list(range(rows)), cache, mask, positions[:, -1] + 1, pending)


def _greedy(model: Any, batch: Batch, implementation: str) -> list[Any]:
    model.set_attn_implementation(implementation)
    steps = []
    with torch.inference_mode():
        for _ in range(STEPS):
            logits = batch.step(model)
            steps.append(logits)
            batch.pending = logits.argmax(-1)
    return steps


def test_greedy_decoding_of_the_model_equals_sdpa(model: Any) -> None:
    batch = _prefill(model, LENGTHS)
    stock = _greedy(model, copy.deepcopy(batch), "sdpa")
    ours = _greedy(model, batch, decode.register())
    for expected, got in zip(stock, ours, strict=True):
        assert torch.equal(got.argmax(-1), expected.argmax(-1))
        torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


@pytest.fixture(scope="module")
def default_engine() -> Iterator[Engine]:
    with Engine(MODEL, backend="pt", dtype="float32") as engine:
        yield engine


def test_the_backend_uses_it_in_place_of_default_sdpa(default_engine: Engine) -> None:
    assert default_engine.backend._model.config._attn_implementation == decode.NAME


@pytest.mark.parametrize("chosen", ["eager", "sdpa"])
def test_a_chosen_attention_implementation_stays(chosen: str) -> None:
    with Engine(MODEL, backend="pt", dtype="float32", attn_implementation=chosen) as engine:
        assert engine.backend._model.config._attn_implementation == chosen
        answer = engine.infer(
            [{"messages": [{"role": "user", "content": "What is the capital of France?"}]}],
            {"temperature": 0.0, "max_tokens": 8},
        )[0]
    assert "Paris" in (answer.choices[0].message.content or "")

"""The pt backend on the real SmolLM2-135M-Instruct: sampling, logprobs, streaming, batching."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from infercore import (
    ChatCompletionChunk,
    ChatCompletionResponse,
    Delta,
    Engine,
    IncrementalDetokenizer,
    PreparedRequest,
    RequestConfig,
    SamplingParams,
)

pytest.importorskip("torch")
pytest.importorskip("transformers")

from infercore_pt._batch import Batch  # needs torch, checked above

MODEL = "smollm2-135m-instruct"
OPTIONS: dict[str, Any] = {"dtype": "float32"}
FRANCE = "What is the capital of France?"
POEM = "Write a short poem about the sea."
PROMPTS = [
    FRANCE,
    POEM,
    "Name three colours.",
    "What is 2 + 2?",
    "Give me a tip for learning to cook.",
    "Translate 'good morning' into Spanish.",
    "Why is the sky blue?",
    "List two animals that live in the ocean.",
]
GREEDY = RequestConfig(temperature=0.0, max_tokens=12)
MIXED_TEXT = "Hello 👋🏽 世界 😀!"
REPLACEMENT = "\ufffd"


def _request(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def _ask(engine: Engine, text: str, **config: Any) -> ChatCompletionResponse:
    return engine.infer([_request(text)], config)[0]


def _text(response: ChatCompletionResponse, index: int = 0) -> str:
    content = response.choices[index].message.content
    assert content is not None
    return content


def _texts(responses: list[ChatCompletionResponse]) -> list[str]:
    return [_text(response) for response in responses]


def _assert_idle(engine: Engine) -> None:
    deadline = time.monotonic() + 5.0
    while engine.backend.active_requests and time.monotonic() < deadline:
        time.sleep(0.02)
    assert engine.backend.active_requests == 0


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    with Engine(MODEL, backend="pt", **OPTIONS) as engine:
        yield engine


@pytest.fixture(scope="module")
def alone(engine: Engine) -> list[str]:
    """The greedy answer to each of PROMPTS, each asked on its own."""
    return [_text(engine.infer([_request(p)], GREEDY)[0]) for p in PROMPTS]


@pytest.fixture
def batch_sizes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The number of rows of every decoding step the scheduler runs during the test."""
    sizes: list[int] = []
    step = Batch.step

    def spy(self: Batch, model: Any) -> Any:
        sizes.append(len(self.members))
        return step(self, model)

    monkeypatch.setattr(Batch, "step", spy)
    return sizes


# -- answers and sampling ------------------------------------------------------------------


def test_greedy_answer_names_paris(engine: Engine) -> None:
    assert "Paris" in _text(_ask(engine, FRANCE, temperature=0.0, max_tokens=24))


def test_seeded_sampling_repeats_and_another_seed_differs(engine: Engine) -> None:
    config = {"temperature": 1.0, "max_tokens": 16, "ignore_eos": True}
    first = _text(_ask(engine, POEM, seed=11, **config))
    again = _text(_ask(engine, POEM, seed=11, **config))
    other = _text(_ask(engine, POEM, seed=12, **config))
    assert first == again
    assert other != first


def test_top_k_one_equals_greedy(engine: Engine) -> None:
    greedy = _text(_ask(engine, POEM, temperature=0.0, max_tokens=16))
    sampled = _text(_ask(engine, POEM, temperature=1.0, seed=5, top_k=1, max_tokens=16))
    assert sampled == greedy


@pytest.mark.parametrize("setting", [{"top_p": 0.5}, {"min_p": 0.3}], ids=["top_p", "min_p"])
def test_truncation_changes_the_sample(engine: Engine, setting: dict[str, float]) -> None:
    config = {"temperature": 1.0, "seed": 5, "max_tokens": 16}
    plain = _text(_ask(engine, POEM, **config))
    truncated = _text(_ask(engine, POEM, **config, **setting))
    assert truncated != plain


@pytest.mark.parametrize(
    "setting", [{"top_p": 0.01}, {"min_p": 1.0}], ids=["tiny-top_p", "min_p-one"]
)
def test_truncation_to_one_token_samples_the_greedy_answer(
    engine: Engine, setting: dict[str, float]
) -> None:
    greedy = _text(_ask(engine, POEM, temperature=0.0, max_tokens=16))
    sampled = _text(_ask(engine, POEM, temperature=1.0, seed=5, max_tokens=16, **setting))
    plain = _text(_ask(engine, POEM, temperature=1.0, seed=5, max_tokens=16))
    assert sampled == greedy
    assert plain != greedy  # the seed alone would not have given the greedy answer


def test_repetition_penalty_changes_a_repetitive_greedy_answer(engine: Engine) -> None:
    prompt = "Repeat the word 'hello' twenty times."
    plain = _text(_ask(engine, prompt, temperature=0.0, max_tokens=16))
    penalised = _text(_ask(engine, prompt, temperature=0.0, max_tokens=16, repetition_penalty=2.0))
    assert plain.lower().count("hello") >= 2
    assert penalised != plain


@pytest.mark.parametrize("penalty", ["presence_penalty", "frequency_penalty"])
def test_output_penalty_changes_the_greedy_answer(engine: Engine, penalty: str) -> None:
    # Greedy, the poem repeats "a canvas of endless blue"; the penalty steers away.
    plain = _text(_ask(engine, POEM, temperature=0.0, max_tokens=16))
    penalised = _text(_ask(engine, POEM, temperature=0.0, max_tokens=16, **{penalty: 2.0}))
    assert penalised != plain


def test_n_samples_give_distinct_choices(engine: Engine) -> None:
    response = _ask(engine, POEM, temperature=1.0, seed=3, n=2, max_tokens=12)
    assert [choice.index for choice in response.choices] == [0, 1]
    first, second = _text(response, 0), _text(response, 1)
    assert first
    assert second
    assert first != second
    _assert_idle(engine)


def test_top_logprobs_are_sorted_and_led_by_the_greedy_choice(engine: Engine) -> None:
    response = _ask(engine, FRANCE, temperature=0.0, max_tokens=8, logprobs=True, top_logprobs=5)
    logprobs = response.choices[0].logprobs
    assert logprobs is not None
    assert logprobs.content is not None
    assert len(logprobs.content) == response.usage.completion_tokens
    for entry in logprobs.content:
        values = [alternative.logprob for alternative in entry.top_logprobs]
        assert len(values) == 5
        assert values == sorted(values, reverse=True)
        assert entry.top_logprobs[0].token == entry.token
        assert entry.top_logprobs[0].logprob == pytest.approx(entry.logprob, abs=1e-4)
        assert sum(math.exp(value) for value in values) <= 1.0 + 1e-4


# -- streaming detokenization ----------------------------------------------------------------


def _stream_text(chunks: Iterator[ChatCompletionChunk]) -> list[str]:
    return [chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices]


def _is_multibyte(character: str) -> bool:
    return character != REPLACEMENT and len(character.encode()) > 1


@pytest.fixture
def generated(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> dict[str, list[int]]:
    """The token ids the backend generates during the test, by rendered prompt."""
    ids: dict[str, list[int]] = {}
    generate = engine.backend.generate

    async def spy(request: PreparedRequest, params: SamplingParams) -> AsyncIterator[Delta]:
        tokens: list[int] = []
        ids[request.prompt] = tokens
        deltas = generate(request, params)
        try:
            async for delta in deltas:
                tokens.extend(delta.token_ids)
                yield delta
        finally:
            await deltas.aclose()  # type: ignore[attr-defined]

    monkeypatch.setattr(engine.backend, "generate", spy)
    return ids


def test_streaming_never_splits_a_multibyte_character(
    engine: Engine, generated: dict[str, list[int]]
) -> None:
    tokenizer = engine.backend.tokenizer
    questions = ["Reply only with emoji: 🎉🌍🚀", "用中文回答：你好吗？"]
    requests = [_request(question) for question in questions]
    produced: list[int] = []
    for seed in (1, 3):
        config = RequestConfig(temperature=1.5, seed=seed, ignore_eos=True, max_tokens=48)
        generated.clear()
        whole = _texts(engine.infer(requests, config))
        streams = engine.stream(requests, config)
        for question, stream, text in zip(questions, streams, whole, strict=True):
            pieces = _stream_text(stream)
            assert "".join(pieces) == text
            if REPLACEMENT not in text:
                assert not any(REPLACEMENT in piece for piece in pieces)
            (ids,) = [ids for prompt, ids in generated.items() if question in prompt]
            assert tokenizer.decode(ids, skip_special_tokens=True) == text
            produced += ids
    # Some token was part of a character (alone it decodes to U+FFFD), so the check had teeth.
    assert any(REPLACEMENT in tokenizer.decode([token]) for token in produced)
    assert any(_is_multibyte(character) for character in tokenizer.decode(produced))
    _assert_idle(engine)


def test_incremental_detokenizer_rebuilds_emoji_and_cjk(engine: Engine) -> None:
    tokenizer = engine.backend.tokenizer
    ids = tokenizer.encode(MIXED_TEXT, add_special_tokens=False)
    # Some tokens are parts of a character: decoded alone they are not text.
    assert any(REPLACEMENT in tokenizer.decode([token]) for token in ids)
    detokenizer = IncrementalDetokenizer(tokenizer)
    pieces = [detokenizer.push([token]) for token in ids]
    pieces.append(detokenizer.flush())
    assert "".join(pieces) == MIXED_TEXT
    assert not any(REPLACEMENT in piece for piece in pieces)


# -- dynamic batching ---------------------------------------------------------------------------


def test_batch_of_prompts_equals_each_alone(
    engine: Engine, alone: list[str], batch_sizes: list[int]
) -> None:
    together = engine.infer([_request(p) for p in PROMPTS], GREEDY)
    assert _texts(together) == alone
    assert max(batch_sizes) > 1  # they did decode together
    _assert_idle(engine)


def test_concurrent_async_calls_equal_the_sync_results(engine: Engine, alone: list[str]) -> None:
    async def ask_all() -> list[ChatCompletionResponse]:
        results = await asyncio.gather(*(engine.infer_async(_request(p), GREEDY) for p in PROMPTS))
        return list(results)

    assert _texts(asyncio.run(ask_all())) == alone
    _assert_idle(engine)


def test_small_max_batch_size_still_completes_every_request(
    alone: list[str], batch_sizes: list[int]
) -> None:
    with Engine(MODEL, backend="pt", max_batch_size=2, **OPTIONS) as small:
        responses = small.infer([_request(p) for p in PROMPTS], GREEDY)
        assert _texts(responses) == alone
        assert all(r.choices[0].finish_reason in ("stop", "length") for r in responses)
        assert max(batch_sizes) == 2
        _assert_idle(small)


def test_each_request_in_a_batch_honours_its_max_tokens(
    engine: Engine, batch_sizes: list[int]
) -> None:
    limits = [3, 7, 11]

    async def ask_all() -> list[ChatCompletionResponse]:
        configs = [{"temperature": 0.0, "ignore_eos": True, "max_tokens": n} for n in limits]
        results = await asyncio.gather(
            *(engine.infer_async(_request(p), c) for p, c in zip(PROMPTS[:3], configs, strict=True))
        )
        return list(results)

    responses = asyncio.run(ask_all())
    assert [r.usage.completion_tokens for r in responses] == limits
    assert all(r.choices[0].finish_reason == "length" for r in responses)
    assert max(batch_sizes) > 1
    _assert_idle(engine)


def test_request_joining_a_running_batch_gets_its_answer_alone(
    engine: Engine, alone: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    merges: list[tuple[int, int]] = []
    merge = Batch.merge

    def spy(self: Batch, other: Batch) -> None:
        merges.append((len(self.members), len(other.members)))
        merge(self, other)

    monkeypatch.setattr(Batch, "merge", spy)
    long = RequestConfig(temperature=0.0, max_tokens=40, ignore_eos=True)
    cook = PROMPTS[4]
    long_alone = _text(engine.infer([_request(cook)], long)[0])

    (stream,) = engine.stream([_request(cook)], long)
    head = [next(stream) for _ in range(4)]  # the role chunk, then three tokens' worth
    joined = engine.infer([_request(POEM)], GREEDY)[0]
    assert engine.backend.active_requests == 1  # the long one was still running throughout
    rest = list(stream)

    assert merges == [(1, 1)]
    assert _text(joined) == alone[1]
    assert "".join(_stream_text(iter(head + rest))) == long_alone
    _assert_idle(engine)

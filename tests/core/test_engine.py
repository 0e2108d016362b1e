"""The engine over the fake backend: responses, streams, n, stop strings, logprobs, usage,
validation, concurrency, cancellation and lifecycle.

The fake backend answers with the last user message, one UTF-8 byte per token, then
end-of-sequence, so every expected text and token count below follows from the question.
"""

from __future__ import annotations

import asyncio
import gc
import re
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, ClassVar

import pytest

import infercore
from infercore import (
    BackendSpec,
    ByteTokenizer,
    Capabilities,
    ChatCompletionChunk,
    ChatCompletionResponse,
    Delta,
    EngineError,
    InvalidRequestError,
    PreparedRequest,
    SamplingParams,
    hookimpl,
)
from infercore.testing import FakeBackend, FakeOptions

GREEDY: dict[str, Any] = {"temperature": 0}
HELLO = "Hello, world! How are you?"


def ask(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def prompt_tokens(text: str) -> int:
    tokenizer = ByteTokenizer()
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": text}], tokenize=False, add_generation_prompt=True
    )
    return len(tokenizer.encode(prompt))


def responses(
    engine: infercore.Engine, requests: list[dict[str, Any]], config: dict[str, Any]
) -> list[ChatCompletionResponse]:
    return engine.infer(requests, config)


def open_streams(
    engine: infercore.Engine, requests: list[dict[str, Any]], config: dict[str, Any]
) -> list[Iterator[ChatCompletionChunk]]:
    return engine.stream(requests, config)


def complete(engine: infercore.Engine, text: str, **config: Any) -> ChatCompletionResponse:
    (response,) = responses(engine, [ask(text)], {**GREEDY, **config})
    return response


def open_stream(
    engine: infercore.Engine, text: str, **config: Any
) -> Iterator[ChatCompletionChunk]:
    (chunks,) = open_streams(engine, [ask(text)], {**GREEDY, **config})
    return chunks


def stream(engine: infercore.Engine, text: str, **config: Any) -> list[ChatCompletionChunk]:
    return list(open_stream(engine, text, **config))


async def open_async_stream(
    engine: infercore.Engine, text: str, **config: Any
) -> AsyncIterator[ChatCompletionChunk]:
    return await engine.stream_async(ask(text), {**GREEDY, **config})


def close_stream(chunks: Iterator[ChatCompletionChunk]) -> None:
    """Stop a sync stream early, as a caller may: close() is the stream's own method."""
    chunks.close()  # type: ignore[attr-defined]


def content(response: ChatCompletionResponse, index: int = 0) -> str:
    text = response.choices[index].message.content
    assert text is not None
    return text


def streamed_text(chunks: list[ChatCompletionChunk], index: int = 0) -> str:
    return "".join(
        choice.delta.content or ""
        for chunk in chunks
        for choice in chunk.choices
        if choice.index == index
    )


def finishes(chunks: list[ChatCompletionChunk], index: int = 0) -> list[str]:
    return [
        choice.finish_reason
        for chunk in chunks
        for choice in chunk.choices
        if choice.index == index and choice.finish_reason is not None
    ]


def wait_until_idle(engine: infercore.Engine, timeout: float = 5.0) -> int:
    deadline = time.monotonic() + timeout
    while engine.backend.active_requests and time.monotonic() < deadline:
        time.sleep(0.01)
    return engine.backend.active_requests


# -- test backends registered next to the fake one ----------------------------------------------


class FailingBackend(FakeBackend):
    """Fails after two tokens, as a backend whose worker dies mid-generation would."""

    async def generate(
        self, request: PreparedRequest, params: SamplingParams
    ) -> AsyncIterator[Delta]:
        count = 0
        async for delta in super().generate(request, params):
            count += len(delta.token_ids)
            if count > 2:
                raise RuntimeError("worker died")
            yield delta


class TruncatingBackend(FakeBackend):
    """Ends its stream after two tokens without a finish reason: a broken backend."""

    async def generate(
        self, request: PreparedRequest, params: SamplingParams
    ) -> AsyncIterator[Delta]:
        count = 0
        async for delta in super().generate(request, params):
            yield Delta(delta.token_ids, delta.text)
            count += 1
            if count == 2:
                return


class RecordingBackend(FakeBackend):
    """Records, for each sequence, whether its caller reads it only once finished."""

    final_only: ClassVar[list[bool]] = []

    async def generate(
        self, request: PreparedRequest, params: SamplingParams
    ) -> AsyncIterator[Delta]:
        RecordingBackend.final_only.append(params.final_only)
        async for delta in super().generate(request, params):
            yield delta


def _spec(name: str, backend: type[FakeBackend], capabilities: Capabilities) -> BackendSpec:
    return BackendSpec(
        name, load=lambda: backend, capabilities=capabilities, options=FakeOptions, priority=None
    )


class _TestBackends:
    @hookimpl
    def register_backends(self, register: Callable[[BackendSpec], None]) -> None:
        register(
            _spec("fake-basic", FakeBackend, Capabilities(sampling=frozenset({"temperature"})))
        )
        every = infercore.SAMPLING_FIELDS
        register(_spec("fake-top2", FakeBackend, Capabilities(sampling=every, max_top_logprobs=2)))
        register(_spec("fake-failing", FailingBackend, Capabilities(sampling=every)))
        register(_spec("fake-truncating", TruncatingBackend, Capabilities(sampling=every)))
        register(_spec("fake-plain", FakeBackend, Capabilities()))
        register(_spec("fake-recording", RecordingBackend, Capabilities(sampling=every)))


@pytest.fixture(scope="module", autouse=True)
def test_backends() -> Iterator[None]:
    manager = infercore.get_plugin_manager()
    manager.register(_TestBackends(), name="test-backends")
    yield
    manager.unregister("test-backends")


@pytest.fixture(scope="module")
def slow_engine() -> Iterator[infercore.Engine]:
    """Sleeps 5 ms per token, so that streams and concurrency can be watched."""
    with infercore.Engine("fake", backend="fake", token_delay=0.005) as engine:
        yield engine


@pytest.fixture(scope="module")
def small_engine() -> Iterator[infercore.Engine]:
    """A context of 64 tokens."""
    with infercore.Engine("fake", backend="fake", max_model_len=64) as engine:
        yield engine


# -- non-streaming --------------------------------------------------------------------------------


def test_infer_answers_each_request_in_order(fake_engine: infercore.Engine) -> None:
    questions = ["first", "second one", "3rd, 三"]

    answers = responses(fake_engine, [ask(q) for q in questions], GREEDY)

    assert [content(r) for r in answers] == questions
    assert len({r.id for r in answers}) == 3


def test_response_has_the_openai_fields(fake_engine: infercore.Engine) -> None:
    response = complete(fake_engine, HELLO)

    assert response.object == "chat.completion"
    assert response.id.startswith("chatcmpl-")
    assert response.model == "fake"
    assert abs(response.created - time.time()) < 60
    (choice,) = response.choices
    assert (choice.index, choice.message.role, choice.finish_reason) == (0, "assistant", "stop")
    assert choice.logprobs is None


def test_infer_takes_models_as_well_as_dicts(fake_engine: infercore.Engine) -> None:
    request = infercore.InferRequest.model_validate(ask("typed"))
    (response,) = fake_engine.infer([request], infercore.RequestConfig(temperature=0))

    assert isinstance(response, ChatCompletionResponse)
    assert content(response) == "typed"


def test_infer_of_no_requests_is_an_empty_list(fake_engine: infercore.Engine) -> None:
    assert fake_engine.infer([], GREEDY) == []


def test_infer_refuses_a_single_request_not_in_a_list(fake_engine: infercore.Engine) -> None:
    with pytest.raises(TypeError, match=r"use \[request\]"):
        fake_engine.infer(ask("hi"))  # type: ignore[arg-type]


def test_max_tokens_ends_with_finish_reason_length(fake_engine: infercore.Engine) -> None:
    response = complete(fake_engine, HELLO, max_tokens=5)

    assert content(response) == "Hello"
    assert response.choices[0].finish_reason == "length"
    assert response.usage.completion_tokens == 5


def test_ignore_eos_generates_past_the_answer(fake_engine: infercore.Engine) -> None:
    response = complete(fake_engine, "ab", max_tokens=5, ignore_eos=True)

    assert content(response) == "ababa"
    assert response.choices[0].finish_reason == "length"


def test_usage_counts_prompt_and_completion_tokens(fake_engine: infercore.Engine) -> None:
    text = "naïve 🌍"

    usage = complete(fake_engine, text).usage

    assert usage.prompt_tokens == prompt_tokens(text)
    assert usage.completion_tokens == len(text.encode()) + 1  # every byte, then end-of-sequence
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


# -- streaming -------------------------------------------------------------------------------------


def test_sync_stream_yields_role_then_text_then_finish(fake_engine: infercore.Engine) -> None:
    chunks = stream(fake_engine, HELLO)

    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].choices[0].delta.content == ""
    assert streamed_text(chunks) == HELLO
    assert finishes(chunks) == ["stop"]
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert {chunk.object for chunk in chunks} == {"chat.completion.chunk"}
    assert len({(chunk.id, chunk.created) for chunk in chunks}) == 1
    assert all(chunk.usage is None for chunk in chunks)


def test_stream_never_splits_a_character(fake_engine: infercore.Engine) -> None:
    text = "日本語 🌍🎉 ok"

    chunks = stream(fake_engine, text)

    pieces = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert "".join(pieces) == text
    assert not any("\ufffd" in piece for piece in pieces)


def test_stream_usage_chunk_comes_last_and_matches(fake_engine: infercore.Engine) -> None:
    chunks = stream(fake_engine, HELLO, stream_options={"include_usage": True})

    assert chunks[-1].choices == []
    assert chunks[-1].usage == complete(fake_engine, HELLO).usage
    assert all(chunk.usage is None for chunk in chunks[:-1])


def test_streams_of_several_requests_each_carry_their_own_answer(
    fake_engine: infercore.Engine,
) -> None:
    streams = open_streams(fake_engine, [ask("one"), ask("two")], GREEDY)

    texts = [streamed_text(list(s)) for s in streams]

    assert texts == ["one", "two"]


async def test_infer_async_returns_a_response(fake_engine: infercore.Engine) -> None:
    response = await fake_engine.infer_async(ask(HELLO), GREEDY)

    assert isinstance(response, ChatCompletionResponse)
    assert content(response) == HELLO


async def test_async_stream_equals_the_sync_one(fake_engine: infercore.Engine) -> None:
    chunks = [chunk async for chunk in await open_async_stream(fake_engine, HELLO)]

    assert chunks[0].choices[0].delta.role == "assistant"
    assert streamed_text(chunks) == HELLO
    assert finishes(chunks) == ["stop"]


async def test_stream_async_raises_request_errors_before_any_chunk(
    fake_engine: infercore.Engine,
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        await fake_engine.stream_async(ask("x"), {"max_tokens": 10**6})

    assert caught.value.param == "max_tokens"


# -- n ---------------------------------------------------------------------------------------------


def test_n_gives_indexed_choices_and_sums_usage(fake_engine: infercore.Engine) -> None:
    response = complete(fake_engine, HELLO, n=3)

    assert [choice.index for choice in response.choices] == [0, 1, 2]
    assert [content(response, i) for i in range(3)] == [HELLO] * 3
    assert response.usage.completion_tokens == 3 * (len(HELLO) + 1)
    assert response.usage.prompt_tokens == prompt_tokens(HELLO)


def test_sampled_n_usage_is_the_sum_over_choices(fake_engine: infercore.Engine) -> None:
    config = {"temperature": 1.0, "seed": 3, "n": 4, "max_tokens": 12, "logprobs": True}

    response = complete(fake_engine, HELLO, **config)

    per_choice = [
        len(choice.logprobs.content or []) for choice in response.choices if choice.logprobs
    ]
    assert len(per_choice) == 4
    assert response.usage.completion_tokens == sum(per_choice)
    assert len({content(response, i) for i in range(4)}) > 1


def test_each_choice_has_its_own_repeatable_seed(fake_engine: infercore.Engine) -> None:
    sampled = {"temperature": 1.0, "max_tokens": 10}

    three = complete(fake_engine, HELLO, **sampled, seed=40, n=3)
    again = complete(fake_engine, HELLO, **sampled, seed=40, n=3)
    second_alone = complete(fake_engine, HELLO, **sampled, seed=41)

    assert [content(three, i) for i in range(3)] == [content(again, i) for i in range(3)]
    assert content(three, 1) == content(second_alone)


def test_streamed_n_interleaves_indexed_choices(fake_engine: infercore.Engine) -> None:
    chunks = stream(fake_engine, HELLO, n=2)

    assert [c.index for c in chunks[0].choices] == [0, 1]
    assert all(len(chunk.choices) == 1 for chunk in chunks[1:])
    for index in (0, 1):
        assert streamed_text(chunks, index) == HELLO
        assert finishes(chunks, index) == ["stop"]


# -- stop strings ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "stop", "expected"),
    [
        (HELLO, ["world"], "Hello, "),
        ("I work in the world", ["world"], "I work in the "),  # "wor" of "work" is let go
        ("one two three", ["three", "two"], "one "),  # the earliest match wins
        ("emoji 🌍 here", ["🌍"], "emoji "),
        ("stop at the very start", ["stop"], ""),
    ],
)
def test_stop_string_cuts_the_text_and_finishes_with_stop(
    fake_engine: infercore.Engine, text: str, stop: list[str], expected: str
) -> None:
    response = complete(fake_engine, text, stop=stop)

    assert content(response) == expected
    assert response.choices[0].finish_reason == "stop"


def test_stop_string_split_across_deltas_never_leaks_into_the_stream(
    fake_engine: infercore.Engine,
) -> None:
    # One byte per delta: "world" arrives in five deltas.
    chunks = stream(fake_engine, HELLO, stop=["world"])

    pieces = [c.choices[0].delta.content or "" for c in chunks[1:]]
    assert "".join(pieces) == "Hello, "
    assert not any("w" in piece for piece in pieces)
    assert finishes(chunks) == ["stop"]


def test_stop_string_ends_generation_early(fake_engine: infercore.Engine) -> None:
    response = complete(fake_engine, HELLO, stop=["world"])

    assert response.usage.completion_tokens == len("Hello, world")
    assert fake_engine.backend.active_requests == 0


def test_only_a_whole_answer_without_stop_strings_may_come_whole() -> None:
    RecordingBackend.final_only.clear()
    with infercore.Engine("fake", backend="fake-recording") as engine:
        whole = complete(engine, HELLO)
        stopped = complete(engine, HELLO, stop=["world"])
        streamed = stream(engine, HELLO)

    assert RecordingBackend.final_only == [True, False, False]
    assert content(whole) == streamed_text(streamed) == HELLO
    assert content(stopped) == "Hello, "


def test_a_whole_answer_is_the_streamed_one_with_its_logprobs_and_usage(
    fake_engine: infercore.Engine,
) -> None:
    config = {"temperature": 0.8, "seed": 3, "logprobs": True, "top_logprobs": 2}
    whole = complete(fake_engine, "ünïcode 🌍", **config)
    chunks = stream(fake_engine, "ünïcode 🌍", stream_options={"include_usage": True}, **config)

    assert content(whole) == streamed_text(chunks)
    assert whole.choices[0].logprobs is not None
    streamed_logprobs = [
        entry
        for c in chunks
        if c.choices and c.choices[0].logprobs
        for entry in c.choices[0].logprobs.content or ()
    ]
    assert whole.choices[0].logprobs.content == streamed_logprobs
    assert chunks[-1].usage == whole.usage


def test_stop_string_that_never_matches_leaves_the_text_whole(
    fake_engine: infercore.Engine,
) -> None:
    response = complete(fake_engine, HELLO, stop=["xyz", "Hello!"])

    assert content(response) == HELLO
    assert response.choices[0].finish_reason == "stop"
    assert streamed_text(stream(fake_engine, HELLO, stop=["xyz"])) == HELLO


def test_held_back_stop_prefix_is_released_at_end_of_sequence(
    fake_engine: infercore.Engine,
) -> None:
    assert content(complete(fake_engine, "abc wo", stop=["world"])) == "abc wo"
    assert streamed_text(stream(fake_engine, "abc wo", stop=["world"])) == "abc wo"


def test_held_back_stop_prefix_is_released_at_max_tokens(fake_engine: infercore.Engine) -> None:
    response = complete(fake_engine, "abc world", stop=["world"], max_tokens=6)

    assert content(response) == "abc wo"
    assert response.choices[0].finish_reason == "length"


def test_stop_strings_apply_to_every_choice(fake_engine: infercore.Engine) -> None:
    response = complete(fake_engine, HELLO, stop=["!"], n=2)

    assert [content(response, i) for i in range(2)] == ["Hello, world", "Hello, world"]
    assert [choice.finish_reason for choice in response.choices] == ["stop", "stop"]


# -- logprobs --------------------------------------------------------------------------------------


def test_logprobs_have_one_entry_per_token_with_sorted_alternatives(
    fake_engine: infercore.Engine,
) -> None:
    response = complete(fake_engine, "Hi 🌍", logprobs=True, top_logprobs=3)

    logprobs = response.choices[0].logprobs
    assert logprobs is not None
    assert logprobs.content is not None
    entries = logprobs.content
    assert len(entries) == response.usage.completion_tokens
    for entry in entries:
        assert entry.logprob <= 0.0
        assert entry.bytes == list(entry.token.encode())
        assert len(entry.top_logprobs) == 3
        values = [alt.logprob for alt in entry.top_logprobs]
        assert values == sorted(values, reverse=True)
        assert entry.top_logprobs[0].token == entry.token  # greedy takes the best
        assert entry.top_logprobs[0].logprob == pytest.approx(entry.logprob)
    assert "".join(entry.token for entry in entries[:3]) == "Hi "


def test_logprobs_without_top_logprobs_have_no_alternatives(
    fake_engine: infercore.Engine,
) -> None:
    response = complete(fake_engine, "abc", logprobs=True)

    logprobs = response.choices[0].logprobs
    assert logprobs is not None
    assert logprobs.content is not None
    assert [entry.token for entry in logprobs.content][:3] == ["a", "b", "c"]
    assert all(entry.top_logprobs == [] for entry in logprobs.content)


def test_streamed_logprobs_cover_every_token(fake_engine: infercore.Engine) -> None:
    chunks = stream(fake_engine, "日本", logprobs=True, top_logprobs=1)

    entries = [
        entry
        for chunk in chunks[1:]
        for choice in chunk.choices
        if choice.logprobs is not None
        for entry in choice.logprobs.content or []
    ]
    assert len(entries) == len("日本".encode()) + 1
    assert all(len(entry.top_logprobs) == 1 for entry in entries)
    assert streamed_text(chunks) == "日本"


# -- validation ------------------------------------------------------------------------------------


def test_max_tokens_beyond_the_context_is_refused(small_engine: infercore.Engine) -> None:
    room = 64 - prompt_tokens("hi")

    assert complete(small_engine, "hi", max_tokens=room).choices[0].finish_reason == "stop"
    with pytest.raises(InvalidRequestError, match=f"which leaves {room}") as caught:
        complete(small_engine, "hi", max_tokens=room + 1)

    assert caught.value.param == "max_tokens"


def test_without_max_tokens_generation_is_bounded_by_the_context(
    small_engine: infercore.Engine,
) -> None:
    response = complete(small_engine, "hi", ignore_eos=True)

    assert response.usage.total_tokens == 64
    assert response.choices[0].finish_reason == "length"


def test_prompt_longer_than_the_context_is_refused(small_engine: infercore.Engine) -> None:
    with pytest.raises(InvalidRequestError, match="shorten the messages") as caught:
        complete(small_engine, "x" * 64)

    assert caught.value.param == "messages"


def test_invalid_config_dict_is_an_invalid_request_naming_the_field(
    fake_engine: infercore.Engine,
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        fake_engine.infer([ask("hi")], {"temperature": -1})

    assert caught.value.param == "temperature"


def test_invalid_request_dict_is_an_invalid_request_naming_the_field(
    fake_engine: infercore.Engine,
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        fake_engine.infer([{"messages": [{"role": "robot", "content": "hi"}]}])

    assert caught.value.param == "messages.0.role"


@pytest.mark.parametrize(
    ("config", "param"),
    [
        ({"top_p": 0.5}, "top_p"),
        ({"seed": 1}, "seed"),
        ({"ignore_eos": True}, "ignore_eos"),
        ({"presence_penalty": 0.5}, "presence_penalty"),
        ({"logprobs": True}, "logprobs"),
    ],
)
def test_setting_the_backend_lacks_is_refused(config: dict[str, Any], param: str) -> None:
    with infercore.Engine("fake", backend="fake-basic") as engine:
        assert content(complete(engine, "ok", temperature=0.0)) == "ok"
        with pytest.raises(InvalidRequestError, match="does not") as caught:
            complete(engine, "ok", **config)

    assert caught.value.param == param
    assert "'fake-basic'" in str(caught.value)


def test_capabilities_claim_no_sampling_setting_by_default() -> None:
    with infercore.Engine("fake", backend="fake-plain") as engine:
        assert engine.capabilities.tasks == {"generate"}
        assert engine.infer([ask("ok")], {"max_tokens": 4})[0].usage.completion_tokens > 0
        for name, value in [("temperature", 0.0), ("seed", 1), ("top_k", 1)]:
            with pytest.raises(InvalidRequestError, match="does not support") as caught:
                engine.infer([ask("ok")], {name: value})
            assert caught.value.param == name


def test_capabilities_refuse_a_sampling_setting_that_does_not_exist() -> None:
    with pytest.raises(ValueError, match="unknown sampling settings") as caught:
        Capabilities(sampling=frozenset({"temperature", "mirostat"}))

    assert "'mirostat'" in str(caught.value)


def test_more_top_logprobs_than_the_backend_gives_are_refused() -> None:
    with infercore.Engine("fake", backend="fake-top2") as engine:
        assert complete(engine, "ok", logprobs=True, top_logprobs=2).choices[0].logprobs
        with pytest.raises(InvalidRequestError, match="at most 2") as caught:
            complete(engine, "ok", logprobs=True, top_logprobs=3)

    assert caught.value.param == "top_logprobs"


def test_chat_template_refusal_is_an_invalid_request(fake_engine: infercore.Engine) -> None:
    request = {
        "messages": [
            {"role": "user", "content": "What is the weather?"},
            {"role": "tool", "content": "sunny", "tool_call_id": "call_1"},
        ]
    }

    with pytest.raises(InvalidRequestError, match="chat template refused") as caught:
        fake_engine.infer([request], GREEDY)

    assert "'tool'" in str(caught.value)
    assert caught.value.param == "messages"


def test_media_on_a_text_only_template_is_an_invalid_request(
    fake_engine: infercore.Engine,
) -> None:
    with pytest.raises(InvalidRequestError) as listed:
        fake_engine.infer([{**ask("<image>What is it?"), "images": ["cat.png"]}])
    part = {"type": "image_url", "image_url": {"url": "cat.png"}}
    with pytest.raises(InvalidRequestError) as inline:
        fake_engine.infer([{"messages": [{"role": "user", "content": [part]}]}])

    assert (listed.value.param, inline.value.param) == ("images", "messages")


def test_text_parts_are_joined_for_a_text_template(fake_engine: infercore.Engine) -> None:
    parts = [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]

    request = {"messages": [{"role": "user", "content": parts}]}

    (response,) = responses(fake_engine, [request], GREEDY)

    assert content(response) == "one\ntwo"


# -- backend failures ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def failing_engine() -> Iterator[infercore.Engine]:
    with infercore.Engine("fake", backend="fake-failing") as engine:
        yield engine


@pytest.mark.parametrize("n", [1, 2])
def test_backend_failure_is_an_engine_error(failing_engine: infercore.Engine, n: int) -> None:
    with pytest.raises(EngineError, match="'fake-failing' failed: RuntimeError") as caught:
        complete(failing_engine, HELLO, n=n)

    assert isinstance(caught.value.__cause__, RuntimeError)


def test_backend_failure_mid_stream_is_an_engine_error(failing_engine: infercore.Engine) -> None:
    chunks = open_stream(failing_engine, HELLO)
    received = [next(chunks) for _ in range(3)]

    with pytest.raises(EngineError, match="worker died"):
        next(chunks)

    assert streamed_text(received) == "He"
    assert list(chunks) == []


async def test_backend_failure_in_infer_async_is_an_engine_error(
    failing_engine: infercore.Engine,
) -> None:
    with pytest.raises(EngineError, match="worker died"):
        await failing_engine.infer_async(ask(HELLO), GREEDY)


def test_stream_without_a_finish_reason_is_an_engine_error() -> None:
    with (
        infercore.Engine("fake", backend="fake-truncating") as engine,
        pytest.raises(EngineError, match="without a finish reason"),
    ):
        complete(engine, HELLO)


# -- event loops and concurrency -------------------------------------------------------------------


def test_sync_infer_works_inside_a_running_event_loop(fake_engine: infercore.Engine) -> None:
    async def notebook_cell() -> tuple[ChatCompletionResponse, list[ChatCompletionChunk]]:
        asyncio.get_running_loop()  # as in Jupyter: a loop is running in this thread
        return complete(fake_engine, HELLO), stream(fake_engine, HELLO)

    response, chunks = asyncio.run(notebook_cell())

    assert content(response) == HELLO
    assert streamed_text(chunks) == HELLO


def test_engine_can_be_built_and_closed_inside_a_running_event_loop() -> None:
    async def notebook_cell() -> str:
        with infercore.Engine("fake", backend="fake") as engine:
            return content(complete(engine, "in a loop"))

    assert asyncio.run(notebook_cell()) == "in a loop"


async def test_concurrent_infer_async_calls_run_together(slow_engine: infercore.Engine) -> None:
    questions = [f"question number {i}" for i in range(4)]
    peak = 0

    async def watch() -> None:
        nonlocal peak
        while True:
            peak = max(peak, slow_engine.backend.active_requests)
            await asyncio.sleep(0.001)

    watcher = asyncio.create_task(watch())
    try:
        answers = await asyncio.gather(
            *(slow_engine.infer_async(ask(q), GREEDY) for q in questions)
        )
    finally:
        watcher.cancel()

    assert [content(r) for r in answers if isinstance(r, ChatCompletionResponse)] == questions
    assert peak == len(questions)


# -- cancellation ----------------------------------------------------------------------------------

LONG: dict[str, Any] = {"ignore_eos": True, "max_tokens": 2000}


def test_closing_a_sync_stream_releases_the_backend_request(
    slow_engine: infercore.Engine,
) -> None:
    chunks = open_stream(slow_engine, HELLO, **LONG)
    for _ in range(3):
        next(chunks)
    assert slow_engine.backend.active_requests == 1

    close_stream(chunks)

    assert wait_until_idle(slow_engine) == 0
    assert list(chunks) == []


def test_dropping_a_sync_stream_releases_the_backend_request(
    slow_engine: infercore.Engine,
) -> None:
    chunks = open_stream(slow_engine, HELLO, **LONG)
    next(chunks)

    del chunks
    gc.collect()

    assert wait_until_idle(slow_engine) == 0


async def test_closing_an_async_stream_releases_the_backend_request(
    slow_engine: infercore.Engine,
) -> None:
    chunks = await open_async_stream(slow_engine, HELLO, **LONG)
    for _ in range(3):
        await anext(chunks)
    assert slow_engine.backend.active_requests == 1

    await chunks.aclose()  # type: ignore[attr-defined]  # an async generator in fact

    assert wait_until_idle(slow_engine) == 0


async def test_cancelling_a_task_that_reads_a_stream_releases_the_backend_request(
    slow_engine: infercore.Engine,
) -> None:
    received: list[ChatCompletionChunk] = []
    reading = asyncio.Event()

    async def read() -> None:
        async for chunk in await open_async_stream(slow_engine, HELLO, **LONG, n=2):
            received.append(chunk)
            if len(received) == 5:
                reading.set()

    task = asyncio.create_task(read())
    await asyncio.wait_for(reading.wait(), timeout=5.0)
    assert slow_engine.backend.active_requests == 2

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert wait_until_idle(slow_engine) == 0


def test_engine_serves_again_after_a_cancelled_stream(slow_engine: infercore.Engine) -> None:
    chunks = open_stream(slow_engine, HELLO, **LONG)
    next(chunks)
    close_stream(chunks)

    assert content(complete(slow_engine, "again")) == "again"


# -- results as they complete, and the API's shapes -------------------------------------------


def test_infer_iter_yields_each_response_as_it_finishes(slow_engine: infercore.Engine) -> None:
    requests = [ask("a long answer, repeated"), ask("short"), ask("medium text")]
    config = {**GREEDY, "max_tokens": 40}
    order = []
    answered: dict[int, ChatCompletionResponse] = {}
    for index, response in slow_engine.infer_iter(requests, config):
        order.append(index)
        answered[index] = response

    assert order == [1, 2, 0]  # shortest first, at 5 ms a token
    in_order = slow_engine.infer(requests, config)
    assert [content(answered[i]) for i in range(3)] == [content(r) for r in in_order]


def test_closing_infer_iter_early_releases_the_other_requests(
    slow_engine: infercore.Engine,
) -> None:
    requests = [ask("short"), ask(HELLO), ask(HELLO)]
    results = slow_engine.infer_iter(requests, {**GREEDY, **LONG})
    assert next(results)[0] == 0
    results.close()  # type: ignore[attr-defined]
    deadline = time.monotonic() + 5.0
    while slow_engine.backend.active_requests and time.monotonic() < deadline:
        time.sleep(0.01)

    assert slow_engine.backend.active_requests == 0


@pytest.mark.parametrize(
    ("call", "advice"),
    [("infer", "Engine.stream"), ("infer_iter", "Engine.stream")],
)
def test_whole_response_calls_send_stream_true_to_stream(
    fake_engine: infercore.Engine, call: str, advice: str
) -> None:
    with pytest.raises(InvalidRequestError, match=re.escape(advice)) as caught:
        getattr(fake_engine, call)([ask("x")], {"stream": True})

    assert caught.value.param == "stream"
    assert fake_engine.backend.active_requests == 0


async def test_infer_async_sends_stream_true_to_stream_async(
    fake_engine: infercore.Engine,
) -> None:
    with pytest.raises(InvalidRequestError, match=r"Engine\.stream_async") as caught:
        await fake_engine.infer_async(ask("x"), {"stream": True})

    assert caught.value.param == "stream"


def test_run_on_loop_runs_on_the_engines_own_loop(fake_engine: infercore.Engine) -> None:
    async def which_loop() -> asyncio.AbstractEventLoop:
        return asyncio.get_running_loop()

    assert fake_engine.run_on_loop(which_loop()) is fake_engine.loop


# -- lifecycle -------------------------------------------------------------------------------------


def test_close_is_idempotent_and_closes_the_backend_once() -> None:
    closed: list[str] = []
    engine = infercore.Engine("fake", backend="fake")

    async def aclose() -> None:
        closed.append("backend")

    engine.backend.aclose = aclose  # type: ignore[method-assign]

    with engine:
        assert content(complete(engine, "hi")) == "hi"
    engine.close()
    engine.close()

    assert closed == ["backend"]


def test_closed_engine_refuses_work_clearly() -> None:
    engine = infercore.Engine("fake", backend="fake")
    engine.close()

    with pytest.raises(EngineError, match="closed"):
        engine.infer([ask("hi")])


async def test_closed_engine_refuses_async_work_clearly() -> None:
    engine = infercore.Engine("fake", backend="fake")
    engine.close()

    with pytest.raises(EngineError, match="closed"):
        await engine.infer_async(ask("hi"))


def test_infer_one_call_loads_answers_and_releases(monkeypatch: pytest.MonkeyPatch) -> None:
    closed: list[int] = []

    async def aclose(self: FakeBackend) -> None:
        closed.append(self.max_model_len)

    monkeypatch.setattr(FakeBackend, "aclose", aclose)

    responses = infercore.infer(
        "fake", [ask("one"), ask("two")], GREEDY, backend="fake", max_model_len=100
    )

    assert [content(r) for r in responses] == ["one", "two"]
    assert closed == [100]


def test_infer_one_call_refuses_to_stream() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        infercore.infer("fake", [ask("hi")], {"stream": True}, backend="fake")

    assert caught.value.param == "stream"


def test_infer_one_call_passes_options_to_the_backend() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        infercore.infer("fake", [ask("hi")], {"max_tokens": 40}, backend="fake", max_model_len=32)

    assert caught.value.param == "max_tokens"


def test_adapters_on_a_backend_without_lora_are_refused() -> None:
    with pytest.raises(infercore.InvalidRequestError, match="does not support LoRA") as caught:
        infercore.Engine("fake", backend="fake", adapters={"a": "/nowhere"})
    assert caught.value.param == "adapters"


def test_an_engine_dropped_without_close_releases_its_thread() -> None:
    before = threading.active_count()
    engine = infercore.Engine("fake", backend="fake")
    assert threading.active_count() == before + 1
    del engine
    gc.collect()
    assert threading.active_count() == before


def test_a_text_only_engine_opens_no_media_fetcher(fake_engine: infercore.Engine) -> None:
    complete(fake_engine, "no media here")

    assert fake_engine._resources._fetcher is None

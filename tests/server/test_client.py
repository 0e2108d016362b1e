"""``InferClient`` and ``infercore infer --base-url`` against the real server on the echo backend.

The echo backend repeats the last user message byte by byte (one token per
byte, then end-of-sequence), so every answer is known in advance; its
``first_token_delay`` makes concurrency visible in wall time.
"""

from __future__ import annotations

import asyncio
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import infercore
from infercore import (
    AuthenticationError,
    ChatCompletionChunk,
    ChatCompletionResponse,
    EngineError,
    InferClient,
    InferStats,
    InvalidRequestError,
    ModelNotFoundError,
)
from infercore.testing import INFERCORE_COMMAND, deployed, free_port, server_env

MODEL = "tiny-echo"
KEY = "sk-test-key"
DELAY_S = 0.1  # the echo backend's first_token_delay


def ask(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    args = ["--model", MODEL, "--backend", "echo", "--api-key", KEY]
    with deployed(*args, "-O", f"first_token_delay={DELAY_S}") as url:
        yield url


@pytest.fixture(scope="module")
def client(base_url: str) -> Iterator[InferClient]:
    with InferClient(base_url, api_key=KEY) as client:
        yield client


def _responses(results: Any) -> list[ChatCompletionResponse]:
    assert all(isinstance(r, ChatCompletionResponse) for r in results)
    return list(results)


def _text(chunks: list[ChatCompletionChunk], index: int = 0) -> str:
    return "".join(
        c.delta.content or "" for chunk in chunks for c in chunk.choices if c.index == index
    )


# -- models and connection ----------------------------------------------------


def test_models_lists_the_served_model_and_is_the_default(client: InferClient) -> None:
    assert client.models == [MODEL]
    assert client.model == MODEL


def test_base_url_with_or_without_v1_and_host_port_reach_the_same_api(base_url: str) -> None:
    port = int(base_url.rsplit(":", 1)[1])
    for client in (
        InferClient(f"{base_url}/v1/", api_key=KEY),
        InferClient(host="127.0.0.1", port=port, api_key=KEY),
    ):
        with client:
            assert client.base_url == f"{base_url}/v1"
            assert client.models == [MODEL]


def test_an_unreachable_server_is_an_engine_error_that_says_so() -> None:
    with (
        InferClient(port=free_port(), timeout=5) as client,
        pytest.raises(EngineError, match="cannot talk to the server"),
    ):
        client.infer([ask("hi")])


# -- infer: sync --------------------------------------------------------------


def test_infer_answers_a_list_in_order_with_engine_types(client: InferClient) -> None:
    texts = ["alpha", "beta gamma", "héllo"]
    responses = _responses(client.infer([ask(t) for t in texts]))
    assert [r.choices[0].message.content for r in responses] == texts
    for response, text in zip(responses, texts, strict=True):
        assert response.model == MODEL
        assert response.choices[0].finish_reason == "stop"
        # One token per byte ("é" is two) plus end-of-sequence.
        assert response.usage.completion_tokens == len(text.encode()) + 1
        assert response.usage.prompt_tokens > len(text.encode())


def test_infer_sends_the_requests_concurrently(client: InferClient) -> None:
    client.infer([ask("warm")])
    start = time.perf_counter()
    responses = _responses(client.infer([ask(f"request {i}") for i in range(8)]))
    elapsed = time.perf_counter() - start
    assert [r.choices[0].message.content for r in responses] == [f"request {i}" for i in range(8)]
    # One after another they would take 8 x the first-token delay.
    assert elapsed < 4 * DELAY_S, f"8 requests took {elapsed:.2f} s"


def test_infer_sends_the_config_fields_that_are_set(client: InferClient) -> None:
    config = infercore.RequestConfig(max_tokens=7, ignore_eos=True, n=2, stop=["zz"])
    (response,) = _responses(client.infer([ask("abc")], config))
    assert [c.message.content for c in response.choices] == ["abcabca", "abcabca"]
    assert [c.finish_reason for c in response.choices] == ["length", "length"]
    assert response.usage.completion_tokens == 14


def test_infer_takes_one_request_only_in_a_list(client: InferClient) -> None:
    with pytest.raises(TypeError, match=r"\[request\]"):
        client.infer(ask("hi"))  # type: ignore[arg-type]


def test_a_raw_prompt_goes_to_completions_and_comes_back_chat_shaped(
    client: InferClient,
) -> None:
    (response,) = _responses(client.infer([{"prompt": "Once upon"}], {"max_tokens": 20}))
    assert response.choices[0].message.content == "Once upon"
    assert response.usage.prompt_tokens == len("Once upon")
    (stream,) = client.stream([{"prompt": "a time"}])
    assert _text(list(stream)) == "a time"


# -- streaming ------------------------------------------------------------------


def test_infer_streams_one_iterator_per_request(client: InferClient) -> None:
    streams = client.stream([ask("one"), ask("two")])
    chunks = [list(stream) for stream in streams]
    assert [_text(c) for c in chunks] == ["one", "two"]
    for stream_chunks in chunks:
        assert all(isinstance(c, ChatCompletionChunk) for c in stream_chunks)
        assert stream_chunks[0].choices[0].delta.role == "assistant"
        assert stream_chunks[-1].choices[0].finish_reason == "stop"
        assert all(c.usage is None for c in stream_chunks)  # not asked for


def test_more_streams_than_pooled_connections_all_complete(base_url: str) -> None:
    texts: list[str] = []

    def run() -> None:
        with InferClient(base_url, api_key=KEY, max_connections=2) as client:
            streams = client.stream([ask(f"s{i}") for i in range(6)])
            texts.extend(_text(list(stream)) for stream in streams)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive(), "streams beyond the pool never got a connection"
    assert texts == [f"s{i}" for i in range(6)]


def test_a_stream_brings_its_usage_chunk_only_when_asked(client: InferClient) -> None:
    config = {"stream_options": {"include_usage": True}}
    (stream,) = client.stream([ask("four")], config)
    chunks = list(stream)
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == len("four") + 1


def test_closing_a_stream_early_is_clean(client: InferClient) -> None:
    (stream,) = client.stream([ask("x" * 200)])
    next(stream)
    stream.close()  # type: ignore[attr-defined]
    (response,) = _responses(client.infer([ask("after")]))
    assert response.choices[0].message.content == "after"


async def test_infer_async_answers_and_streams(client: InferClient) -> None:
    response = await client.infer_async(ask("async"))
    assert isinstance(response, ChatCompletionResponse)
    assert response.choices[0].message.content == "async"

    stream = await client.stream_async(ask("streamed"))
    assert _text([chunk async for chunk in stream]) == "streamed"


async def test_infer_async_runs_requests_concurrently_on_the_callers_loop(
    client: InferClient,
) -> None:
    await client.infer_async(ask("warm"))
    start = time.perf_counter()
    results = await asyncio.gather(*(client.infer_async(ask(f"r{i}")) for i in range(8)))
    elapsed = time.perf_counter() - start
    contents = [r.choices[0].message.content for r in results]  # type: ignore[union-attr]
    assert contents == [f"r{i}" for i in range(8)]
    assert elapsed < 4 * DELAY_S, f"8 requests took {elapsed:.2f} s"


def test_infer_async_works_from_one_loop_after_another(base_url: str) -> None:
    with InferClient(base_url, api_key=KEY) as client:
        for text in ("first loop", "second loop"):
            response = asyncio.run(client.infer_async(ask(text)))
            assert response.choices[0].message.content == text  # type: ignore[union-attr]


async def test_sync_infer_works_inside_a_running_loop(client: InferClient) -> None:
    # As in a notebook: a sync call from a coroutine, with no nest_asyncio.
    (response,) = _responses(client.infer([ask("in a loop")]))
    assert response.choices[0].message.content == "in a loop"


async def test_the_async_context_manager_closes_the_client(base_url: str) -> None:
    async with InferClient(base_url, api_key=KEY) as client:
        await client.infer_async(ask("hi"))
    with pytest.raises(EngineError, match="closed"):
        await client.infer_async(ask("hi"))
    with pytest.raises(EngineError, match="closed"):
        client.infer([ask("hi")])


# -- errors ---------------------------------------------------------------------


def test_a_wrong_key_is_an_authentication_error(base_url: str) -> None:
    with InferClient(base_url, api_key="wrong", model=MODEL) as client:
        with pytest.raises(AuthenticationError, match="API key"):
            client.infer([ask("hi")])
        with pytest.raises(AuthenticationError):
            client.stream([ask("hi")])
        with pytest.raises(AuthenticationError):
            _ = client.models
    with InferClient(base_url) as keyless, pytest.raises(AuthenticationError):
        _ = keyless.models


def test_an_unknown_model_is_a_model_not_found_error(base_url: str) -> None:
    with InferClient(base_url, api_key=KEY, model="no-such-model") as client:
        with pytest.raises(ModelNotFoundError, match="no-such-model"):
            client.infer([ask("hi")])
        with pytest.raises(ModelNotFoundError):
            asyncio.run(client.stream_async(ask("hi")))


def test_a_requests_adapter_is_asked_for_as_a_served_model(client: InferClient) -> None:
    # A server serves each LoRA adapter under its own name; this one serves none.
    with pytest.raises(ModelNotFoundError, match="'my-lora'"):
        client.infer([{**ask("hi"), "adapter": "my-lora"}])


def test_a_setting_the_backend_refuses_is_an_invalid_request_naming_it(
    client: InferClient,
) -> None:
    with pytest.raises(InvalidRequestError, match="temperature") as caught:
        client.infer([ask("hi")], {"temperature": 0.5})
    assert caught.value.param == "temperature"
    # Streams raise it from infer, before any chunk.
    with pytest.raises(InvalidRequestError) as caught:
        client.stream([ask("hi"), ask("ho")], {"temperature": 0.5})
    assert caught.value.param == "temperature"


def test_max_tokens_beyond_the_context_is_an_invalid_request(client: InferClient) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        client.infer([ask("hi")], {"max_tokens": 10_000_000})
    assert caught.value.param == "max_tokens"


def test_a_config_out_of_bounds_is_refused_before_sending(client: InferClient) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        client.infer([ask("hi")], {"temperature": 5})
    assert caught.value.param == "temperature"


# -- stats ----------------------------------------------------------------------


def test_stats_count_responses_and_streams_as_the_server_reports_them(
    client: InferClient,
) -> None:
    requests = [ask("one"), ask("three"), ask("fifteen")]
    stats = InferStats()
    responses = _responses(client.infer(requests, {"n": 2}, stats=stats))
    expected_prompt = sum(r.usage.prompt_tokens for r in responses)
    expected_generated = sum(r.usage.completion_tokens for r in responses)
    assert (stats.prompt_tokens, stats.generated_tokens) == (expected_prompt, expected_generated)
    assert (stats.requests, stats.samples) == (3, 6)

    streamed = InferStats()
    for stream in client.stream(requests, {"n": 2}, stats=streamed):
        chunks = list(stream)
        assert all(c.usage is None for c in chunks)  # asked for the stats, not shown
    assert streamed.prompt_tokens == expected_prompt
    assert streamed.generated_tokens == expected_generated
    assert (streamed.requests, streamed.samples) == (3, 6)
    figures = streamed.compute()
    assert figures["runtime"] > 0
    assert figures["tokens/s"] > 0


async def test_stats_count_async_responses(client: InferClient) -> None:
    stats = InferStats()
    response = await client.infer_async(ask("abc"), stats=stats)
    stream = await client.stream_async(ask("abc"), stats=stats)
    _ = [chunk async for chunk in stream]
    assert isinstance(response, ChatCompletionResponse)
    assert stats.requests == 2
    assert stats.generated_tokens == 2 * response.usage.completion_tokens


# -- infercore infer --base-url -------------------------------------------------


def _infer(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*INFERCORE_COMMAND, "infer", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=server_env(),
    )


@pytest.mark.parametrize(
    "flags",
    [["--stream"], ["--no-stream"], ["--backend", "remote", "--model", MODEL]],
    ids=["stream", "no-stream", "backend-remote"],
)
def test_infer_with_base_url_prints_the_servers_answer(base_url: str, flags: list[str]) -> None:
    result = _infer("--base-url", base_url, "--api-key", KEY, *flags, "--query", "Bonjour!")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "Bonjour!\n"


def test_infer_with_base_url_and_a_wrong_key_says_so(base_url: str) -> None:
    result = _infer("--base-url", base_url, "--api-key", "nope", "--query", "hi")
    assert result.returncode == 2
    assert "refused the API key" in result.stderr


def test_infer_backend_remote_needs_a_base_url() -> None:
    result = _infer("--backend", "remote", "--query", "hi")
    assert result.returncode == 2
    assert "--base-url" in result.stderr


def test_whole_response_calls_send_stream_true_to_the_streaming_ones(
    client: InferClient,
) -> None:
    with pytest.raises(InvalidRequestError, match=r"InferClient\.stream ") as caught:
        client.infer([ask("hi")], {"stream": True})
    assert caught.value.param == "stream"
    with pytest.raises(InvalidRequestError, match=r"InferClient\.stream_async"):
        asyncio.run(client.infer_async(ask("hi"), {"stream": True}))

"""The built-in echo backend, raw prompts, and InferStats."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

import infercore
from infercore import _builtin
from infercore.types import ChatCompletionResponse

HELLO = [{"messages": [{"role": "user", "content": "héllo"}]}]


@pytest.fixture(scope="module")
def builtin_plugin() -> Iterator[None]:
    """The core's own plugin, which the core's tests do not autoload."""
    manager = infercore.get_plugin_manager()
    manager.register(_builtin, name="builtin")
    yield
    manager.unregister("builtin")


@pytest.fixture(scope="module")
def echo(builtin_plugin: None) -> Iterator[infercore.Engine]:
    with infercore.Engine("anything", backend="echo") as engine:
        yield engine


def test_echo_repeats_the_last_user_message_then_stops(echo: infercore.Engine) -> None:
    (response,) = echo.infer(HELLO)
    assert isinstance(response, ChatCompletionResponse)
    assert response.choices[0].message.content == "héllo"
    assert response.choices[0].finish_reason == "stop"
    # One token per byte ("é" is two) plus the end-of-sequence token.
    assert response.usage.completion_tokens == len("héllo".encode()) + 1


def test_echo_with_ignore_eos_repeats_up_to_max_tokens(echo: infercore.Engine) -> None:
    (response,) = echo.infer(HELLO, {"max_tokens": 9, "ignore_eos": True})
    assert isinstance(response, ChatCompletionResponse)
    assert response.choices[0].message.content == "héllohé"
    assert response.choices[0].finish_reason == "length"
    assert response.usage.completion_tokens == 9


def test_echo_cut_inside_a_character_shows_the_replacement(echo: infercore.Engine) -> None:
    (response,) = echo.infer(HELLO, {"max_tokens": 2})
    assert isinstance(response, ChatCompletionResponse)
    assert response.choices[0].message.content == "h\ufffd"
    assert response.choices[0].finish_reason == "length"


def test_echo_refuses_sampling_it_cannot_do(echo: infercore.Engine) -> None:
    with pytest.raises(infercore.InvalidRequestError, match="temperature") as caught:
        echo.infer(HELLO, {"temperature": 0.7})
    assert caught.value.param == "temperature"


@pytest.mark.usefixtures("builtin_plugin")
@pytest.mark.parametrize("rate", [200.0, 4000.0])
def test_echo_keeps_its_token_rate(rate: float) -> None:
    # Above 1,000 tokens/s a token's gap is under the millisecond that uvloop's timers count.
    tokens = int(rate / 10) + 1
    with infercore.Engine("m", backend="echo", token_rate=rate) as engine:
        start = time.perf_counter()
        (stream,) = engine.stream(HELLO, {"max_tokens": tokens, "ignore_eos": True})
        chunks = list(stream)
        elapsed = time.perf_counter() - start
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    # The gaps between rate / 10 + 1 tokens take 0.1 s, less up to a few milliseconds:
    # uvloop's clock and timers count whole ones (unpaced, 401 tokens take about 3 ms).
    assert elapsed >= 0.095


def test_a_raw_prompt_is_completed_without_the_chat_template(echo: infercore.Engine) -> None:
    (response,) = echo.infer([{"prompt": "Once upon"}])
    assert isinstance(response, ChatCompletionResponse)
    assert response.choices[0].message.content == "Once upon"
    assert response.usage.prompt_tokens == len("Once upon")


def test_stats_count_responses_and_streams(echo: infercore.Engine) -> None:
    stats = infercore.InferStats()
    echo.infer(HELLO * 3, {"n": 2}, stats=stats)
    for stream in echo.stream(HELLO, stats=stats):
        list(stream)
    figures = stats.compute()
    prompt = len(
        echo.backend.tokenizer.encode(
            echo.backend.tokenizer.apply_chat_template(
                HELLO[0]["messages"], add_generation_prompt=True
            )
        )
    )
    assert figures["num_requests"] == 4
    assert figures["num_samples"] == 3 * 2 + 1
    assert figures["num_prompt_tokens"] == 4 * prompt
    assert figures["num_generated_tokens"] == 7 * (len("héllo".encode()) + 1)
    assert figures["runtime"] > 0
    assert figures["tokens/s"] == pytest.approx(
        figures["num_generated_tokens"] / figures["runtime"]
    )
    stats.reset()
    assert stats.compute()["num_requests"] == 0
    assert stats.runtime == 0.0

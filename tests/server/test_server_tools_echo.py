"""Tool calls and reasoning through ``infercore deploy`` and back, on the echo backend.

The echo backend repeats the last user message one byte (one token) at a time, so each
test writes the model's text itself and the server streams it character by character:
the core's parsing, the wire shapes and both clients, not evidence about any model.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from infercore import InferClient
from infercore.testing import deployed

MODEL = "echo-tools"
WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
CALLS = (
    'Checking.<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'
    '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>'
)
THOUGHT = "<think>They want the weather.</think>\n\nSunny."


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    flags = ["--model", MODEL, "--backend", "echo", "--tool-call-parser", "hermes",
             "--reasoning-parser", "qwen3"]  # fmt: skip
    with deployed(*flags) as root:
        yield root


@pytest.fixture(scope="module")
def client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0)


def ask(text: str) -> Any:
    return [{"role": "user", "content": text}]


def test_calls_come_back_parsed(client: openai.OpenAI) -> None:
    response = client.chat.completions.create(
        model=MODEL, messages=ask(CALLS), tools=[WEATHER_TOOL]
    )

    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Checking."
    calls = choice.message.tool_calls or []
    assert [json.loads(c.function.arguments) for c in calls] == [  # type: ignore[union-attr]
        {"city": "Paris"},
        {"city": "Oslo"},
    ]
    assert calls[0].id != calls[1].id


def test_streamed_one_character_at_a_time_no_markup_reaches_content(
    client: openai.OpenAI,
) -> None:
    stream = client.chat.completions.create(
        model=MODEL, messages=ask(CALLS), tools=[WEATHER_TOOL], stream=True
    )
    chunks = [chunk for chunk in stream if chunk.choices]

    contents = [chunk.choices[0].delta.content or "" for chunk in chunks]
    assert "".join(contents) == "Checking."
    assert not any("<" in piece or "{" in piece for piece in contents)
    calls: dict[int, str] = {}
    for chunk in chunks:
        for piece in chunk.choices[0].delta.tool_calls or []:
            assert piece.function is not None
            calls[piece.index] = calls.get(piece.index, "") + (piece.function.arguments or "")
    assert [json.loads(calls[i]) for i in sorted(calls)] == [{"city": "Paris"}, {"city": "Oslo"}]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_reasoning_comes_under_both_names(client: openai.OpenAI) -> None:
    response = client.chat.completions.create(model=MODEL, messages=ask(THOUGHT))
    stream = client.chat.completions.create(model=MODEL, messages=ask(THOUGHT), stream=True)
    deltas = [chunk.choices[0].delta for chunk in stream if chunk.choices]

    message = response.choices[0].message
    assert message.content == "Sunny."
    extra = message.model_extra or {}
    assert extra["reasoning"] == extra["reasoning_content"] == "They want the weather."
    assert "".join(d.content or "" for d in deltas) == "Sunny."
    assert "".join((d.model_extra or {}).get("reasoning_content") or "" for d in deltas) == (
        "They want the weather."
    )


def test_infer_client_round_trips_calls_and_reasoning(url: str) -> None:
    with InferClient(url, model=MODEL) as remote:
        (response,) = remote.infer([{"messages": ask(CALLS), "tools": [WEATHER_TOOL]}])
        (thought,) = remote.infer([{"messages": ask(THOUGHT)}])
        (stream,) = remote.stream([{"messages": ask(CALLS), "tools": [WEATHER_TOOL]}])
        chunks = list(stream)

    calls = response.choices[0].message.tool_calls or []
    assert [call.function.name for call in calls] == ["get_weather", "get_weather"]
    assert response.choices[0].finish_reason == "tool_calls"
    assert thought.choices[0].message.reasoning == "They want the weather."
    streamed = [
        call.function.arguments
        for chunk in chunks
        for choice in chunk.choices
        for call in choice.delta.tool_calls or []
    ]
    assert streamed == [call.function.arguments for call in calls]


def test_a_tool_choice_that_the_tools_cannot_meet_is_a_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model=MODEL,
            messages=ask("hi"),
            tools=[WEATHER_TOOL],
            tool_choice={"type": "function", "function": {"name": "get_time"}},
        )

    assert caught.value.body["param"] == "tool_choice"  # type: ignore[index]

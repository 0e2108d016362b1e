"""``infercore deploy --backend vllm`` serving the official ``openai`` client, on SmolLM2
behind a Hermes tool template (``tool_models``) with the hermes parser: chat, a tool
conversation and a forced call equal to what the pt backend answers on the same folder,
and structured output."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jsonschema
import openai
import pytest
from openai.types.chat import ChatCompletion
from tool_models import make_smollm2_with_tools
from vllm_settings import VLLM_OPTIONS

import infercore
from infercore.testing import deployed
from infercore.testing._structured_suite import CITY_SCHEMA, STRUCTURED_MAX_TOKENS

SERVED = "smollm2-tools"
PARSERS = {"tool_call_parser": "hermes"}
QUESTION: Any = {"role": "user", "content": "What is the capital of France?"}
WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "maxLength": 20}},
            "required": ["city"],
        },
    },
}
ASKED: Any = {"role": "user", "content": "What is the weather in Paris?"}
CALLED: Any = {
    "role": "assistant",
    "content": None,
    "tool_calls": [
        {
            "id": "call_weather_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
        }
    ],
}
RESULT: Any = {"role": "tool", "tool_call_id": "call_weather_1", "content": "18 C and sunny"}


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_smollm2_with_tools(tmp_path_factory.mktemp("tools") / SERVED)


@pytest.fixture(scope="module")
def client(model: Path) -> Iterator[openai.OpenAI]:
    options = [item for name, value in VLLM_OPTIONS.items() for item in ("-O", f"{name}={value}")]
    parsers = [
        item for name, value in PARSERS.items() for item in (f"--{name.replace('_', '-')}", value)
    ]
    flags = ["--model", str(model), "--served-model-name", SERVED, "--backend", "vllm"]
    with deployed(*flags, *parsers, *options, start_timeout=600) as url:
        yield openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)


@pytest.fixture(scope="module")
def pt_engine(model: Path) -> Iterator[infercore.Engine]:
    with infercore.Engine(str(model), backend="pt", dtype="float32", **PARSERS) as engine:
        yield engine


def _calls(message: Any) -> list[tuple[str, Any]]:
    return [(c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls or []]


def test_chat(client: openai.OpenAI) -> None:
    response = client.chat.completions.create(
        model=SERVED, messages=[QUESTION], max_tokens=16, temperature=0
    )
    assert "Paris" in (response.choices[0].message.content or "")
    assert response.usage is not None
    assert response.usage.completion_tokens <= 16


def test_streaming_chat_equals_the_whole_answer(client: openai.OpenAI) -> None:
    fields: Any = {"model": SERVED, "messages": [QUESTION], "max_tokens": 16, "temperature": 0}
    whole = client.chat.completions.create(**fields)
    chunks = list(
        client.chat.completions.create(
            **fields, stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens  # type: ignore[union-attr]


def test_completions_of_a_raw_prompt(client: openai.OpenAI) -> None:
    response = client.completions.create(
        model=SERVED, prompt="The capital of France is", max_tokens=8, temperature=0
    )
    assert response.object == "text_completion"
    assert response.choices[0].text.strip()
    assert response.choices[0].finish_reason in {"stop", "length"}


def test_a_weather_conversation_round_trips_as_on_pt(
    client: openai.OpenAI, pt_engine: infercore.Engine
) -> None:
    conversation = [ASKED, CALLED, RESULT]
    fields: Any = {"temperature": 0, "max_tokens": 32}
    whole = client.chat.completions.create(
        model=SERVED, messages=conversation, tools=[WEATHER_TOOL], **fields
    )
    chunks = [
        chunk
        for chunk in client.chat.completions.create(
            model=SERVED, messages=conversation, tools=[WEATHER_TOOL], stream=True, **fields
        )
        if chunk.choices
    ]
    (ours,) = pt_engine.infer([{"messages": conversation, "tools": [WEATHER_TOOL]}], fields)

    message = whole.choices[0].message
    assert message.content or message.tool_calls
    assert (message.content, _calls(message)) == (
        ours.choices[0].message.content,
        _calls(ours.choices[0].message),
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == (message.content or "")
    assert chunks[-1].choices[0].finish_reason == whole.choices[0].finish_reason


def test_a_forced_tool_call_equals_pts(client: openai.OpenAI, pt_engine: infercore.Engine) -> None:
    fields: Any = {"temperature": 0, "max_tokens": 48}
    request: Any = {"messages": [ASKED], "tools": [WEATHER_TOOL], "tool_choice": "required"}
    served = client.chat.completions.create(model=SERVED, **request, **fields)
    (ours,) = pt_engine.infer([request], fields)

    assert _calls(served.choices[0].message) == _calls(ours.choices[0].message)
    assert [name for name, _ in _calls(served.choices[0].message)] == ["get_weather"]
    assert served.choices[0].finish_reason == "tool_calls"


def test_response_format_json_schema_validates_for_twenty_sampled_prompts(
    client: openai.OpenAI,
) -> None:
    def ask(number: int) -> ChatCompletion:
        return client.chat.completions.create(
            model=SERVED,
            messages=[{"role": "user", "content": f"Describe city number {number} as JSON."}],
            temperature=1.0,
            max_tokens=STRUCTURED_MAX_TOKENS,
            response_format={  # type: ignore[arg-type]
                "type": "json_schema",
                "json_schema": {"name": "city", "schema": CITY_SCHEMA},
            },
        )

    # Sent at once, so that vLLM batches them.
    with ThreadPoolExecutor(max_workers=20) as pool:
        completions = list(pool.map(ask, range(20)))
    for completion in completions:
        jsonschema.validate(json.loads(completion.choices[0].message.content or ""), CITY_SCHEMA)
        assert completion.choices[0].finish_reason == "stop"

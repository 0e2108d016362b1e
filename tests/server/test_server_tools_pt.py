"""Tool calling through ``infercore deploy`` on pt, driven by the ``openai`` client.

The model is SmolLM2 behind a Hermes tool template (``tool_models``): a 135M model does
not call tools reliably, so these tests assert what holds whatever it answers: the tools
and the tool results reach the template, a conversation with a ``role: tool`` message
round-trips, streamed and whole answers agree, and calls that are parsed are well formed.
The template's own output is parsed back exactly. Where ``tool_choice`` forces a call, the
answer is held to the calls' schema, so it always parses: those tests sample freely.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import jsonschema
import openai
import pytest
from openai.types.chat import ChatCompletion
from tool_models import make_smollm2_with_tools

from infercore._parsers import HermesParser, ParsedCall
from infercore.testing import INFERCORE_COMMAND, deployed

pytest.importorskip("torch")
pytest.importorskip("transformers")

SERVED = "smollm2-tools"
WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "the city, such as Paris"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}
QUESTION: Any = {"role": "user", "content": "What is the weather in Paris?"}
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
CONVERSATION: Any = [QUESTION, CALLED, RESULT]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_smollm2_with_tools(tmp_path_factory.mktemp("tools") / "smollm2-tools")


@pytest.fixture(scope="module")
def client(model: Path) -> Iterator[openai.OpenAI]:
    flags = ["--model", str(model), "--backend", "pt", "-O", "dtype=float32",
             "--served-model-name", SERVED, "--max-tokens", "24",
             "--tool-call-parser", "auto"]  # fmt: skip
    with deployed(*flags, env={"OMP_NUM_THREADS": "1"}) as root:
        yield openai.OpenAI(base_url=f"{root}/v1", api_key="none", max_retries=0)


def _calls(message: Any) -> list[tuple[str, Any]]:
    return [
        (call.function.name, json.loads(call.function.arguments))
        for call in message.tool_calls or []
    ]


def test_the_templates_own_calls_parse_back(model: Path) -> None:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model)
    # Templates take the arguments as objects (the engine turns OpenAI's JSON text into them).
    calls = [("call_weather_1", "get_weather", {"city": "Paris"}),
             ("call_time_1", "get_time", {"zone": "Europe/Paris", "24h": True})]  # fmt: skip
    two = {
        "role": "assistant",
        "tool_calls": [
            {"id": id_, "type": "function", "function": {"name": name, "arguments": arguments}}
            for id_, name, arguments in calls
        ],
    }

    rendered = tokenizer.apply_chat_template([QUESTION, two], tools=[WEATHER_TOOL], tokenize=False)
    turn = rendered.split("<|im_start|>assistant\n")[-1].removesuffix("<|im_end|>\n")

    assert HermesParser().parse(turn).calls == [
        ParsedCall("get_weather", '{"city": "Paris"}'),
        ParsedCall("get_time", '{"zone": "Europe/Paris", "24h": true}'),
    ]


def test_tools_reach_the_template(client: openai.OpenAI) -> None:
    bare = client.chat.completions.create(model=SERVED, messages=[QUESTION], max_tokens=1)
    offered = client.chat.completions.create(
        model=SERVED, messages=[QUESTION], tools=[WEATHER_TOOL], max_tokens=1
    )
    withheld = client.chat.completions.create(
        model=SERVED, messages=[QUESTION], tools=[WEATHER_TOOL], tool_choice="none", max_tokens=1
    )

    assert bare.usage is not None
    assert offered.usage is not None
    assert withheld.usage is not None
    # The tool's description is in the prompt: dozens of tokens more.
    assert offered.usage.prompt_tokens > bare.usage.prompt_tokens + 40
    assert withheld.usage.prompt_tokens == bare.usage.prompt_tokens


@pytest.fixture(scope="module")
def answer(client: openai.OpenAI) -> ChatCompletion:
    """The greedy answer to the conversation after the tool's result."""
    return client.chat.completions.create(
        model=SERVED, messages=CONVERSATION, tools=[WEATHER_TOOL], temperature=0
    )


def test_a_conversation_with_a_tool_result_round_trips(
    client: openai.OpenAI, answer: ChatCompletion
) -> None:
    before = client.chat.completions.create(
        model=SERVED, messages=[QUESTION], tools=[WEATHER_TOOL], max_tokens=1
    )

    choice = answer.choices[0]
    assert choice.message.role == "assistant"
    assert choice.finish_reason in ("stop", "length", "tool_calls")
    assert (choice.finish_reason == "tool_calls") == bool(choice.message.tool_calls)
    assert choice.message.content or choice.message.tool_calls
    # Every call the server reports has a name it offered and JSON object arguments.
    assert all(name == "get_weather" and isinstance(args, dict) for name, args in _calls(
        choice.message))  # fmt: skip
    assert "<tool_call>" not in (choice.message.content or "") or not choice.message.tool_calls
    # The earlier call and the result took their places in the prompt.
    assert answer.usage is not None
    assert before.usage is not None
    assert answer.usage.prompt_tokens > before.usage.prompt_tokens + 20


def test_the_stream_says_what_the_answer_says(
    client: openai.OpenAI, answer: ChatCompletion
) -> None:
    stream = client.chat.completions.create(
        model=SERVED, messages=CONVERSATION, tools=[WEATHER_TOOL], temperature=0, stream=True
    )
    chunks = [chunk for chunk in stream if chunk.choices]

    content = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    pieces: dict[int, list[str]] = {}
    for chunk in chunks:
        for call in chunk.choices[0].delta.tool_calls or []:
            assert call.function is not None
            pieces.setdefault(call.index, []).append(call.function.arguments or "")
    message = answer.choices[0].message
    assert content == (message.content or "")
    assert [json.loads("".join(pieces[i])) for i in sorted(pieces)] == [
        args for _, args in _calls(message)
    ]
    assert chunks[-1].choices[0].finish_reason == answer.choices[0].finish_reason


def _held_to_the_tool(message: Any) -> None:
    """``message`` is one or more well-formed calls of the weather tool, and no text."""
    assert message.content is None
    calls = _calls(message)
    assert calls
    for name, arguments in calls:
        assert name == "get_weather"
        jsonschema.validate(arguments, WEATHER_TOOL["function"]["parameters"])


def test_tool_choice_required_always_calls_a_tool_even_when_sampled(
    client: openai.OpenAI,
) -> None:
    def ask(seed: int) -> ChatCompletion:
        return client.chat.completions.create(
            model=SERVED, messages=[QUESTION], tools=[WEATHER_TOOL], tool_choice="required",
            temperature=1.0, seed=seed, max_tokens=96,
        )  # fmt: skip

    # Sent at once, so that the server batches them.
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(ask, range(8)))
    for answer in answers:
        _held_to_the_tool(answer.choices[0].message)
        assert answer.choices[0].finish_reason == "tool_calls"


def test_a_named_tool_choice_calls_that_function_once(client: openai.OpenAI) -> None:
    other = {**WEATHER_TOOL, "function": {**WEATHER_TOOL["function"], "name": "get_forecast"}}
    answer = client.chat.completions.create(
        model=SERVED, messages=[QUESTION], tools=[other, WEATHER_TOOL], temperature=0,
        tool_choice={"type": "function", "function": {"name": "get_weather"}}, max_tokens=96,
    )  # fmt: skip

    message = answer.choices[0].message
    _held_to_the_tool(message)
    assert len(_calls(message)) == 1


def test_a_forced_call_streams_as_the_whole_answer_calls(client: openai.OpenAI) -> None:
    fields: Any = {
        "model": SERVED, "messages": [QUESTION], "tools": [WEATHER_TOOL],
        "tool_choice": "required", "temperature": 0, "max_tokens": 96,
    }  # fmt: skip
    whole = client.chat.completions.create(**fields)
    chunks = [c for c in client.chat.completions.create(**fields, stream=True) if c.choices]

    pieces: dict[int, list[str]] = {}
    for chunk in chunks:
        assert not chunk.choices[0].delta.content
        for call in chunk.choices[0].delta.tool_calls or []:
            assert call.function is not None
            pieces.setdefault(call.index, []).append(call.function.arguments or "")
    assert [json.loads("".join(pieces[i])) for i in sorted(pieces)] == [
        arguments for _, arguments in _calls(whole.choices[0].message)
    ]
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_a_forced_call_with_a_response_format_is_refused_naming_it(
    client: openai.OpenAI,
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(
            model=SERVED, messages=[QUESTION], tools=[WEATHER_TOOL], tool_choice="required",
            response_format={"type": "json_object"},
        )  # fmt: skip

    assert caught.value.body["param"] == "response_format"  # type: ignore[index]


def test_deploy_refuses_an_unknown_parser_before_loading(model: Path) -> None:
    result = subprocess.run(
        [*INFERCORE_COMMAND, "deploy", "--model", str(model), "--backend", "pt",
         "--tool-call-parser", "hermes3"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    assert result.returncode == 2
    assert "unknown tool_call_parser 'hermes3'" in result.stderr
    assert "hermes, llama3_json, mistral" in result.stderr

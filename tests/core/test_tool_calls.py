"""Tool calls and reasoning through the engine, on the fake backend (it answers with the
last user message, so each test writes the model's text itself): the core's own logic,
not evidence that any model calls tools."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from openai.types.chat import ChatCompletion
from openai.types.chat import ChatCompletionChunk as OpenAIChunk

import infercore
from infercore import (
    InvalidRequestError,
    ParsedCall,
    ToolParser,
    ToolParserSpec,
    _builtin,
    hookimpl,
)
from infercore.testing import fake_plugin

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'


def _manager(*extra: tuple[object, str]) -> infercore.PluginManager:
    manager = infercore.PluginManager(autoload=False)
    manager.register(_builtin, "builtin")
    manager.register(fake_plugin, "fake")
    for plugin, name in extra:
        manager.register(plugin, name)
    return manager


@pytest.fixture(scope="module")
def engine() -> Iterator[infercore.Engine]:
    with infercore.Engine(
        "fake",
        backend="fake",
        tool_call_parser="hermes",
        reasoning_parser="qwen3",
        plugins=_manager(),
    ) as engine:
        yield engine


def ask(text: str, **fields: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}], **fields}


def answer(engine: infercore.Engine, request: dict[str, Any]) -> ChatCompletion:
    (response,) = engine.infer([request], {"temperature": 0})
    return ChatCompletion.model_validate(response.model_dump(mode="json"))


def chunks(engine: infercore.Engine, request: dict[str, Any]) -> list[OpenAIChunk]:
    (stream,) = engine.stream([request], {"temperature": 0})
    return [OpenAIChunk.model_validate(chunk.model_dump(mode="json")) for chunk in stream]


def test_a_call_in_the_text_is_a_tool_call(engine: infercore.Engine) -> None:
    response = answer(engine, ask(f"I will look.\n{CALL}", tools=[WEATHER_TOOL]))

    choice = response.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "I will look.\n"
    (call,) = choice.message.tool_calls or []
    assert call.type == "function"
    assert call.id.startswith("call_")
    assert call.function.name == "get_weather"  # type: ignore[union-attr]
    assert json.loads(call.function.arguments) == {"city": "Paris"}  # type: ignore[union-attr]


def test_streamed_calls_accumulate_as_the_openai_client_joins_them(
    engine: infercore.Engine,
) -> None:
    two = CALL + CALL.replace("Paris", "Rome")

    parsed = chunks(engine, ask(two, tools=[WEATHER_TOOL]))

    content = "".join(c.choices[0].delta.content or "" for c in parsed if c.choices)
    assert content == ""  # not one character of the markup
    calls: dict[int, dict[str, str]] = {}
    for chunk in parsed:
        for piece in chunk.choices[0].delta.tool_calls or []:
            joined = calls.setdefault(piece.index, {"id": "", "name": "", "arguments": ""})
            joined["id"] += piece.id or ""
            joined["name"] += piece.function.name or "" if piece.function else ""
            joined["arguments"] += piece.function.arguments or "" if piece.function else ""
    assert [json.loads(calls[i]["arguments"])["city"] for i in sorted(calls)] == ["Paris", "Rome"]
    assert {call["name"] for call in calls.values()} == {"get_weather"}
    assert len({call["id"] for call in calls.values()}) == 2
    assert parsed[-1].choices[0].finish_reason == "tool_calls"


def test_a_call_with_bad_json_arguments_is_text(engine: infercore.Engine) -> None:
    bad = '<tool_call>{"name": "get_weather", "arguments": {"city": }</tool_call>'

    response = answer(engine, ask(bad, tools=[WEATHER_TOOL]))

    assert response.choices[0].message.content == bad
    assert response.choices[0].message.tool_calls is None
    assert response.choices[0].finish_reason == "stop"


def test_tool_choice_none_leaves_the_text_alone(engine: infercore.Engine) -> None:
    response = answer(engine, ask(CALL, tools=[WEATHER_TOOL], tool_choice="none"))

    assert response.choices[0].message.content == CALL
    assert response.choices[0].finish_reason == "stop"


def test_parallel_tool_calls_false_answers_one_call(engine: infercore.Engine) -> None:
    request = ask(CALL + CALL, tools=[WEATHER_TOOL], parallel_tool_calls=False)

    assert len(answer(engine, request).choices[0].message.tool_calls or []) == 1


def test_without_tools_markup_is_text(engine: infercore.Engine) -> None:
    assert answer(engine, ask(CALL)).choices[0].message.content == CALL


def test_reasoning_is_apart_from_the_answer(engine: infercore.Engine) -> None:
    text = "<think>Paris is the capital.</think>\n\nParis."

    (response,) = engine.infer([ask(text)], {"temperature": 0})
    parsed = chunks(engine, ask(text))

    message = response.choices[0].message
    assert (message.reasoning, message.content) == ("Paris is the capital.", "Paris.")
    wire = response.model_dump(mode="json")["choices"][0]["message"]
    assert wire["reasoning"] == wire["reasoning_content"] == "Paris is the capital."
    deltas = [c.choices[0].delta for c in parsed if c.choices]
    assert "".join(d.content or "" for d in deltas) == "Paris."
    reasoning = "".join((d.model_extra or {}).get("reasoning") or "" for d in deltas)
    assert reasoning == "Paris is the capital."
    assert all((d.model_extra or {}).get("reasoning_content") == (d.model_extra or {}).get(
        "reasoning") for d in deltas)  # fmt: skip


def test_an_answer_without_reasoning_has_no_reasoning_field(engine: infercore.Engine) -> None:
    (response,) = engine.infer([ask("Paris.")], {"temperature": 0})

    wire = response.model_dump(mode="json")["choices"][0]["message"]
    assert "reasoning" not in wire
    assert "reasoning_content" not in wire


@pytest.mark.parametrize(
    ("request_fields", "param"),
    [
        ({"tools": [WEATHER_TOOL], "tool_choice": "required"}, "tool_choice"),
        (
            {"tools": [WEATHER_TOOL], "tool_choice": {"function": {"name": "get_weather"}}},
            "tool_choice",
        ),
        ({"tools": [WEATHER_TOOL], "tool_choice": {"function": {"name": "nope"}}}, "tool_choice"),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"tools": [WEATHER_TOOL], "tool_choice": "sometimes"}, "tool_choice"),
        ({"tools": [{"type": "function", "function": {"description": "x"}}]}, "tools"),
        ({"tools": [{"type": "retrieval"}]}, "tools"),
    ],
)
def test_tool_settings_that_cannot_be_honoured_are_refused(
    engine: infercore.Engine, request_fields: dict[str, Any], param: str
) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        engine.infer([ask("hi", **request_fields)])

    assert caught.value.param == param


def test_an_earlier_call_with_arguments_that_are_not_json_is_refused(
    engine: infercore.Engine,
) -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{"}}
    request = {
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "user", "content": "again"},
        ]
    }

    with pytest.raises(InvalidRequestError, match="call_1") as caught:
        engine.infer([request])

    assert caught.value.param == "messages"


def test_an_engine_without_a_parser_refuses_tools() -> None:
    with infercore.Engine("fake", backend="fake", plugins=_manager()) as engine:
        with pytest.raises(InvalidRequestError, match="tool-call parser") as caught:
            engine.infer([ask("hi", tools=[WEATHER_TOOL])])
        assert caught.value.param == "tools"
        # With tool_choice "none" the tools are only kept from the template.
        response = answer(engine, ask("hi", tools=[WEATHER_TOOL], tool_choice="none"))
        assert response.choices[0].message.content == "hi"


@pytest.mark.parametrize(
    ("options", "param"),
    [
        ({"tool_call_parser": "hermes2"}, "tool_call_parser"),
        ({"reasoning_parser": "o1"}, "reasoning_parser"),
        # The fake backend's tokenizer has no chat template to tell a format from.
        ({"tool_call_parser": "auto"}, "tool_call_parser"),
    ],
)
def test_a_parser_that_is_not_there_is_refused(options: dict[str, str], param: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        infercore.Engine("fake", backend="fake", plugins=_manager(), **options)

    assert caught.value.param == param


class _Pipes(ToolParser):
    """A plugin's format: ``|name|{arguments}`` for the whole answer."""

    def find_start(self, text: str) -> int | None:
        return 0 if text.startswith("|") else None

    def undecided(self, text: str) -> int:
        return 0

    def parse_markup(self, markup: str) -> tuple[list[ParsedCall], str] | None:
        _, name, arguments = markup.split("|", 2)
        return [ParsedCall(name, json.dumps(json.loads(arguments)))], ""


class _PipesPlugin:
    @hookimpl
    def register_tool_parsers(self, register: Callable[[ToolParserSpec], None]) -> None:
        register(ToolParserSpec("pipes", _Pipes(), "name between pipes", template_marker="|"))


def test_a_plugins_parser_is_found_by_name() -> None:
    manager = _manager((_PipesPlugin(), "pipes"))

    with infercore.Engine(
        "fake", backend="fake", tool_call_parser="pipes", plugins=manager
    ) as engine:
        response = answer(engine, ask('|get_weather|{"city": "Oslo"}', tools=[WEATHER_TOOL]))

    assert "pipes" in manager.registry.tool_parsers
    (call,) = response.choices[0].message.tool_calls or []
    assert (call.function.name, call.function.arguments) == (  # type: ignore[union-attr]
        "get_weather",
        '{"city": "Oslo"}',
    )


def test_a_parser_name_registered_twice_is_refused() -> None:
    class Again:
        @hookimpl
        def register_tool_parsers(self, register: Callable[[ToolParserSpec], None]) -> None:
            register(ToolParserSpec("hermes", _Pipes()))

    with pytest.raises(infercore.InfercoreError, match="'hermes' is registered twice"):
        _ = _manager((Again(), "again")).registry


@pytest.mark.parametrize("flag", ["--tool-call-parser", "--reasoning-parser"])
def test_a_parser_flag_with_a_server_url_is_refused(
    flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from infercore._cli import main

    # Port 9 (discard) is never asked: the flags are refused first.
    code = main(["infer", "--base-url", "http://127.0.0.1:9/v1", flag, "hermes", "--query", "hi"])

    assert code == 2
    assert f"{flag} sets a local engine's parser" in capsys.readouterr().err


def test_the_parser_flags_reach_the_engine(capsys: pytest.CaptureFixture[str]) -> None:
    from infercore._cli import main

    code = main(["infer", "--model", "fake", "--backend", "fake", "--tool-call-parser", "nope",
                 "--query", "hi"])  # fmt: skip

    assert code == 2
    assert "unknown tool_call_parser 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["reasoning", "reasoning_content"])
def test_earlier_reasoning_is_taken_back_by_either_name(
    engine: infercore.Engine, name: str
) -> None:
    earlier = {"role": "assistant", "content": "Paris.", name: "The capital is Paris."}
    request = {"messages": [{"role": "user", "content": "Capital?"}, earlier,
                            {"role": "user", "content": "Thanks"}]}  # fmt: skip

    assert answer(engine, request).choices[0].message.content == "Thanks"
    message = infercore.ChatMessage.model_validate(earlier)
    assert message.reasoning == "The capital is Paris."


def test_reasoning_under_both_names_must_agree() -> None:
    with pytest.raises(ValueError, match="disagree"):
        infercore.ChatMessage.model_validate(
            {"role": "assistant", "content": "x", "reasoning": "a", "reasoning_content": "b"}
        )


def test_a_raw_prompt_is_left_as_text_and_takes_no_tools(engine: infercore.Engine) -> None:
    # The fake answers a raw prompt's ChatML user turn, here a reasoning model's text.
    prompt = "<|im_start|>user\n<think>x</think>y<|im_end|>\n<|im_start|>assistant\n"

    with pytest.raises(InvalidRequestError, match="raw prompt") as caught:
        engine.infer([{"prompt": "hi", "tools": [WEATHER_TOOL]}])
    (response,) = engine.infer([{"prompt": prompt}], {"temperature": 0})

    assert caught.value.param == "tools"
    message = response.choices[0].message
    assert (message.content, message.reasoning) == ("<think>x</think>y", None)


def test_dataset_lines_keep_the_calls_and_the_reasoning(
    engine: infercore.Engine, tmp_path: Path
) -> None:
    rows = [ask(CALL, tools=[WEATHER_TOOL]), ask("<think>Hmm.</think>Yes.")]

    infercore.infer_dataset(
        engine, rows, result_path=tmp_path / "out.jsonl", config={"temperature": 0}
    )

    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    called, thought = sorted(lines, key=lambda line: line["index"])
    assert called["finish_reason"] == "tool_calls"
    assert called["response"] is None
    assert [call["function"]["name"] for call in called["tool_calls"]] == ["get_weather"]
    assert (thought["reasoning"], thought["response"]) == ("Hmm.", "Yes.")
    assert "tool_calls" not in thought

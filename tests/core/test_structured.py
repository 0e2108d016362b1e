"""Structured output's rules in the core, on fake backends: one constraint per config,
refused where the backend does not declare it, schemas checked before generation, and
what the backend receives in SamplingParams."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, ClassVar

import pydantic
import pytest

import infercore
from infercore import (
    BackendSpec,
    Capabilities,
    Delta,
    InvalidRequestError,
    PreparedRequest,
    RequestConfig,
    SamplingParams,
    StructuredOutput,
    _builtin,
    hookimpl,
)
from infercore.testing import FakeBackend, FakeOptions

SCHEMA = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
QUESTION = [{"messages": [{"role": "user", "content": "hi"}]}]


class RecordingBackend(FakeBackend):
    """Declares structured output and records what reaches it (it constrains nothing)."""

    checked: ClassVar[list[StructuredOutput]] = []
    generated: ClassVar[list[SamplingParams]] = []

    async def check_structured(self, structured: StructuredOutput) -> None:
        if structured.kind == "regex" and structured.spec == "((":
            raise InvalidRequestError("unbalanced", param=structured.param)
        self.checked.append(structured)

    async def generate(
        self, request: PreparedRequest, params: SamplingParams
    ) -> AsyncIterator[Delta]:
        self.generated.append(params)
        async for delta in super().generate(request, params):
            yield delta


class _Backends:
    @hookimpl
    def register_backends(self, register: Callable[[BackendSpec], None]) -> None:
        register(
            BackendSpec(
                "fake-structured",
                load=lambda: RecordingBackend,
                capabilities=Capabilities(
                    sampling=infercore.SAMPLING_FIELDS, structured_output=True
                ),
                options=FakeOptions,
                priority=None,
            )
        )


@pytest.fixture(scope="module")
def structured_engine() -> Iterator[infercore.Engine]:
    manager = infercore.get_plugin_manager()
    manager.register(_Backends(), name="structured-backends")
    try:
        with infercore.Engine("fake", backend="fake-structured") as engine:
            yield engine
    finally:
        manager.unregister("structured-backends")


@pytest.fixture(autouse=True)
def _fresh_records() -> None:
    RecordingBackend.checked.clear()
    RecordingBackend.generated.clear()


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"json_schema": SCHEMA}, "json_schema"),
        ({"regex": "[a-z]+"}, "regex"),
        ({"choice": ["yes", "no"]}, "choice"),
        ({"response_format": {"type": "json_object"}}, "response_format"),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"name": "x"}}},
            "response_format",
        ),
    ],
)
def test_a_backend_without_structured_output_refuses_it_by_field(
    fake_engine: infercore.Engine, fields: dict[str, Any], param: str
) -> None:
    with pytest.raises(InvalidRequestError, match="structured output") as caught:
        fake_engine.infer(QUESTION, RequestConfig(max_tokens=4, **fields))
    assert caught.value.param == param


def test_text_response_format_asks_for_nothing(fake_engine: infercore.Engine) -> None:
    config = RequestConfig(temperature=0, response_format={"type": "text"})
    assert fake_engine.infer(QUESTION, config)[0].choices[0].message.content == "hi"


@pytest.mark.parametrize(
    "fields",
    [
        {"json_schema": SCHEMA, "regex": "a"},
        {"regex": "a", "choice": ["a"]},
        {"response_format": {"type": "json_object"}, "choice": ["a"]},
    ],
)
def test_a_config_takes_at_most_one_constraint(fields: dict[str, Any]) -> None:
    with pytest.raises(pydantic.ValidationError, match="at most one of"):
        RequestConfig(**fields)


def test_text_response_format_goes_with_another_constraint() -> None:
    assert RequestConfig(response_format={"type": "text"}, regex="a").regex == "a"


def test_an_empty_choice_list_is_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="choice"):
        RequestConfig(choice=[])


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"json_schema": {"type": "objekt"}}, "json_schema"),
        ({"json_schema": {"properties": {"a": {"minimum": "zero"}}}}, "json_schema"),
        (
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "x", "schema": {"required": "a"}},
                }
            },
            "response_format",
        ),
    ],
)
def test_an_invalid_json_schema_is_refused_before_the_backend_sees_it(
    structured_engine: infercore.Engine, fields: dict[str, Any], param: str
) -> None:
    with pytest.raises(InvalidRequestError, match="not a valid JSON Schema") as caught:
        structured_engine.infer(QUESTION, RequestConfig(max_tokens=4, **fields))
    assert caught.value.param == param
    assert RecordingBackend.checked == []
    assert RecordingBackend.generated == []


def test_what_the_backend_cannot_compile_is_refused_before_generation(
    structured_engine: infercore.Engine,
) -> None:
    with pytest.raises(InvalidRequestError, match="unbalanced") as caught:
        structured_engine.infer(QUESTION, RequestConfig(max_tokens=4, regex="(("))
    assert caught.value.param == "regex"
    assert RecordingBackend.generated == []


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            {"json_schema": SCHEMA},
            StructuredOutput("json_schema", json.dumps(SCHEMA)),
        ),
        (
            {"response_format": {"type": "json_object"}},
            StructuredOutput("json_schema", '{"type": "object"}'),
        ),
        (
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "answer", "schema": SCHEMA, "strict": True},
                }
            },
            StructuredOutput("json_schema", json.dumps(SCHEMA)),
        ),
        ({"regex": "[0-9]+"}, StructuredOutput("regex", "[0-9]+")),
        ({"choice": ["yes", "no"]}, StructuredOutput("choice", '["yes", "no"]')),
    ],
)
def test_each_way_of_asking_reaches_every_choice_as_one_constraint(
    structured_engine: infercore.Engine, fields: dict[str, Any], expected: StructuredOutput
) -> None:
    config = RequestConfig(max_tokens=4, temperature=1.0, seed=1, n=2, **fields)
    structured_engine.infer(QUESTION, config)
    assert RecordingBackend.checked == [expected]
    assert [params.structured for params in RecordingBackend.generated] == [expected, expected]
    assert RecordingBackend.checked[0].param == next(iter(fields))


def test_a_schema_keeps_the_order_of_its_properties(
    structured_engine: infercore.Engine,
) -> None:
    # The answer writes properties in the schema's order ("reasoning" before "answer").
    schema = {"type": "object", "properties": {"b": {}, "a": {}}, "required": ["b", "a"]}
    structured_engine.infer(QUESTION, RequestConfig(max_tokens=2, json_schema=schema))
    (checked,) = RecordingBackend.checked
    assert list(checked.schema["properties"]) == ["b", "a"]
    assert checked == StructuredOutput("json_schema", json.dumps(schema))
    assert hash(checked) == hash(StructuredOutput("json_schema", json.dumps(schema)))


def test_an_unconstrained_request_reaches_the_backend_without_a_constraint(
    structured_engine: infercore.Engine,
) -> None:
    structured_engine.infer(QUESTION, RequestConfig(max_tokens=2))
    assert RecordingBackend.checked == []
    assert [params.structured for params in RecordingBackend.generated] == [None]


def test_the_schema_travels_under_its_wire_name() -> None:
    config = RequestConfig(
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": SCHEMA}}
    )
    wire = config.model_dump(mode="json", exclude_none=True)
    assert wire["response_format"]["json_schema"] == {"name": "a", "schema": SCHEMA}
    assert RequestConfig.model_validate(wire) == config


def test_a_schema_name_must_be_what_openai_allows() -> None:
    with pytest.raises(pydantic.ValidationError, match="name"):
        RequestConfig(response_format={"type": "json_schema", "json_schema": {"name": "a b"}})


def test_structured_output_is_listed_among_capabilities() -> None:
    assert "structured-output" in Capabilities(structured_output=True).describe()
    assert "structured-output" not in Capabilities().describe()


WEATHER = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": SCHEMA},
}


@pytest.mark.parametrize(
    ("tool_choice", "expected"),
    [
        ({"type": "function", "function": {"name": "get_weather"}}, SCHEMA),
        (
            "required",
            {
                "type": "array",
                "minItems": 1,
                "items": {
                    "anyOf": [
                        {
                            "type": "object",
                            "properties": {
                                "name": {"type": "string", "enum": ["get_weather"]},
                                "parameters": SCHEMA,
                            },
                            "required": ["name", "parameters"],
                        }
                    ]
                },
            },
        ),
    ],
)
def test_a_forced_tool_choice_holds_the_answer_to_the_calls_schema(
    structured_engine: infercore.Engine, tool_choice: object, expected: dict[str, Any]
) -> None:
    request = {**QUESTION[0], "tools": [WEATHER], "tool_choice": tool_choice}
    structured_engine.infer([request], RequestConfig(max_tokens=2))

    (checked,) = RecordingBackend.checked
    assert checked.schema == expected
    assert checked.param == "tools"
    assert [params.structured for params in RecordingBackend.generated] == [checked]


def test_a_forced_tool_choice_takes_no_second_constraint(
    structured_engine: infercore.Engine,
) -> None:
    request = {**QUESTION[0], "tools": [WEATHER], "tool_choice": "required"}
    with pytest.raises(InvalidRequestError, match="tool_choice") as caught:
        structured_engine.infer([request], RequestConfig(max_tokens=2, regex="[a-z]+"))

    assert caught.value.param == "regex"
    assert RecordingBackend.checked == []


def test_a_tool_whose_parameters_are_no_json_schema_is_refused_naming_tools(
    structured_engine: infercore.Engine,
) -> None:
    broken = {"type": "function", "function": {"name": "f", "parameters": {"type": "objekt"}}}
    request = {**QUESTION[0], "tools": [broken], "tool_choice": "required"}
    with pytest.raises(InvalidRequestError, match="JSON Schema") as caught:
        structured_engine.infer([request], RequestConfig(max_tokens=2))

    assert caught.value.param == "tools"


@pytest.mark.parametrize(
    ("parser", "opened"),
    # DeepSeek-R1 answers begin in thinking; Qwen3's only where the template opened it.
    [("deepseek_r1", True), ("qwen3", False)],
)
def test_with_a_reasoning_parser_the_constraint_holds_after_the_thinking(
    parser: str, opened: bool
) -> None:
    manager = infercore.PluginManager(autoload=False)
    manager.register(_builtin, "builtin")
    manager.register(_Backends(), "structured-backends")
    with infercore.Engine(
        "fake", backend="fake-structured", reasoning_parser=parser, plugins=manager
    ) as engine:
        engine.infer(QUESTION, RequestConfig(max_tokens=2, regex="[a-z]+"))

    (checked,) = RecordingBackend.checked
    assert checked.reasoning == infercore.ReasoningTags("<think>", "</think>", opened)
    assert [params.structured for params in RecordingBackend.generated] == [checked]
    answer = {"type": "regex", "pattern": "[a-z]+"}
    assert checked.structural_tag()["format"]["elements"][-1] == answer


def test_without_a_reasoning_parser_the_constraint_holds_from_the_first_token(
    structured_engine: infercore.Engine,
) -> None:
    structured_engine.infer(QUESTION, RequestConfig(max_tokens=2, regex="[a-z]+"))

    (checked,) = RecordingBackend.checked
    assert checked.reasoning is None
    with pytest.raises(ValueError, match="without reasoning"):
        checked.structural_tag()

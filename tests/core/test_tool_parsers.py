"""The built-in tool-call formats on texts: whole, and streamed in every split."""

from __future__ import annotations

import json

import pytest
from text_splits import splits

from infercore._parsers import (
    ForcedCallsParser,
    HermesParser,
    Llama3JsonParser,
    MistralParser,
    ParsedCall,
    ToolParser,
    ToolPiece,
)

WEATHER = ParsedCall("get_weather", '{"city": "Paris", "unit": "celsius"}')
TIME = ParsedCall("get_time", '{"zone": "Europe/Paris"}')

HERMES = HermesParser()
LLAMA = Llama3JsonParser()
MISTRAL = MistralParser()

_W = '{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}'
_T = '{"name": "get_time", "arguments": {"zone": "Europe/Paris"}}'

# (parser, the model's text, its content, its calls): every format's calls, alone,
# after some text, several at once; and answers with no calls at all.
CASES: list[tuple[str, ToolParser, str, str | None, list[ParsedCall]]] = [
    ("hermes-one", HERMES, f"<tool_call>\n{_W}\n</tool_call>", "", [WEATHER]),
    (
        "hermes-two-after-text",
        HERMES,
        f"Let me check.\n<tool_call>\n{_W}\n</tool_call>\n<tool_call>\n{_T}\n</tool_call>",
        "Let me check.\n",
        [WEATHER, TIME],
    ),
    ("hermes-unclosed-at-the-end", HERMES, f"<tool_call>\n{_W}\n", "", [WEATHER]),
    ("hermes-no-call", HERMES, "It is 3 < 4 and <tool> is not a call.", None, []),
    (
        "llama3-one",
        LLAMA,
        '{"name": "get_weather", "parameters": {"city": "Paris", "unit": "celsius"}}',
        "",
        [WEATHER],
    ),
    (
        "llama3-tag-and-two",
        LLAMA,
        '<|python_tag|>{"name": "get_weather", "parameters": {"city": "Paris", "unit": '
        '"celsius"}}; {"name": "get_time", "parameters": {"zone": "Europe/Paris"}}',
        "",
        [WEATHER, TIME],
    ),
    ("llama3-text", LLAMA, "  The weather is {sunny}.", None, []),
    ("mistral-list", MISTRAL, f"[TOOL_CALLS][{_W}, {_T}]", "", [WEATHER, TIME]),
    (
        "mistral-args-form",
        MISTRAL,
        'Sure. [TOOL_CALLS]get_weather[ARGS]{"city": "Paris", "unit": "celsius"}'
        '[TOOL_CALLS]get_time[ARGS]{"zone": "Europe/Paris"}',
        "Sure. ",
        [WEATHER, TIME],
    ),
    ("mistral-no-call", MISTRAL, "[TOOL] and [TOOLS] are brackets.", None, []),
]

# Markup whose arguments are not JSON (or not an object) comes back as text, whole.
BAD = [
    ("hermes-bad-json", HERMES, 'Hi <tool_call>\n{"name": "f", "arguments": {"a": }\n</tool_call>'),
    ("hermes-string-arguments", HERMES, '<tool_call>{"name": "f", "arguments": "x"}</tool_call>'),
    ("llama3-cut-off", LLAMA, '{"name": "get_weather", "parameters": {"city": "Par'),
    ("llama3-plain-json", LLAMA, '{"city": "Paris"}'),
    ("mistral-bad-json", MISTRAL, '[TOOL_CALLS][{"name": "f", "arguments": {]'),
    ("mistral-no-args", MISTRAL, "[TOOL_CALLS]get_weather"),
]


def streamed(parser: ToolParser, pieces: list[str]) -> tuple[list[str], list[ParsedCall]]:
    stream = parser.stream()
    parts: list[ToolPiece] = [stream.feed(piece) for piece in pieces]
    parts.append(stream.finish())
    return [part.content for part in parts], [call for part in parts for call in part.calls]


@pytest.mark.parametrize(
    ("parser", "text", "content", "calls"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_calls_are_parsed_whole_and_in_every_split(
    parser: ToolParser, text: str, content: str | None, calls: list[ParsedCall]
) -> None:
    expected = text if content is None else content
    markup = ("<tool_call>", "</tool_call>", "[TOOL_CALLS]", "[ARGS]", "<|python_tag|>", '"name"')

    whole = parser.parse(text)

    assert (whole.content, whole.calls) == (expected, calls)
    for pieces in splits(text):
        contents, streamed_calls = streamed(parser, pieces)
        assert ("".join(contents), streamed_calls) == (expected, calls)
        if calls:
            # No piece of content, however the text was split, shows the markup.
            assert not any(token in part for part in contents for token in markup)


@pytest.mark.parametrize(("parser", "text"), [case[1:] for case in BAD], ids=[c[0] for c in BAD])
def test_markup_that_does_not_parse_comes_back_as_text(parser: ToolParser, text: str) -> None:
    assert parser.parse(text) == ToolPiece(text, [])
    for pieces in splits(text):
        contents, calls = streamed(parser, pieces)
        assert ("".join(contents), calls) == (text, [])


def test_content_before_the_markup_streams_before_the_answer_ends() -> None:
    stream = HERMES.stream()

    first = stream.feed("The weather in Paris: <tool")

    assert first.content == "The weather in Paris: "  # "<tool" waits: it may be markup
    assert stream.feed("_call>").content == ""
    assert stream.feed(f"{_W}</tool_call>").content == ""
    assert stream.finish() == ToolPiece("", [WEATHER])


def test_arguments_keep_their_unicode_and_nesting() -> None:
    text = '<tool_call>{"name": "note", "arguments": {"text": "été", "tags": {"a": [1, 2]}}}'

    (call,) = HERMES.parse(text).calls

    assert json.loads(call.arguments) == {"text": "été", "tags": {"a": [1, 2]}}
    assert "été" in call.arguments


def test_forced_calls_parse_the_required_array_and_a_named_functions_object() -> None:
    required = '[{"name": "get_weather", "parameters": {"city": "Paris", "unit": "celsius"}}]'
    named = '{"zone": "Europe/Paris"}'

    assert ForcedCallsParser(None).parse(required) == ToolPiece("", [WEATHER])
    assert ForcedCallsParser("get_time").parse(named) == ToolPiece("", [TIME])
    for pieces in splits(named):
        contents, calls = streamed(ForcedCallsParser("get_time"), pieces)
        assert (contents, calls) == ([""] * len(contents), [TIME])
    # Output that is not the schema's (a backend that did not constrain it) stays text.
    assert ForcedCallsParser(None).parse('{"a": 1}') == ToolPiece('{"a": 1}', [])
    assert ForcedCallsParser("get_time").parse("[1]") == ToolPiece("[1]", [])

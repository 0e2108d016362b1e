"""``<think>`` reasoning apart from the answer: whole, and streamed in every split."""

from __future__ import annotations

import pytest
from text_splits import splits

from infercore._parsers import (
    DeepSeekR1Parser,
    HermesParser,
    OutputParsing,
    ParsedCall,
    Qwen3Parser,
    ReasoningParser,
    ReasoningPiece,
)

QWEN3 = Qwen3Parser()
R1 = DeepSeekR1Parser()
PLAIN_PROMPT = "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
OPENED_PROMPT = PLAIN_PROMPT + "<think>\n"
# Qwen3 with thinking switched off: the template writes an empty, closed block.
CLOSED_PROMPT = PLAIN_PROMPT + "<think>\n\n</think>\n\n"

CASES = [
    ("qwen3-tags", QWEN3, PLAIN_PROMPT, "<think>\nWhat is 2+2? 4.\n</think>\n\nIt is 4.",
     "\nWhat is 2+2? 4.\n", "It is 4."),
    ("qwen3-no-thinking", QWEN3, CLOSED_PROMPT, "It is 4.", "", "It is 4."),
    ("qwen3-no-tags", QWEN3, PLAIN_PROMPT, "It is 4 < 5.", "", "It is 4 < 5."),
    ("qwen3-opened-by-template", QWEN3, OPENED_PROMPT, "Sum: 4.</think>It is 4.",
     "Sum: 4.", "It is 4."),
    ("r1-without-start-tag", R1, PLAIN_PROMPT, "Okay, 2+2=4.\n</think>\n\n**4**",
     "Okay, 2+2=4.\n", "**4**"),
    ("r1-with-start-tag", R1, OPENED_PROMPT, "<think>Okay.</think>4", "Okay.", "4"),
    ("r1-cut-off", R1, OPENED_PROMPT, "Okay, so I need to </thi", "Okay, so I need to </thi", ""),
]  # fmt: skip


@pytest.mark.parametrize(
    ("parser", "prompt", "text", "reasoning", "content"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_reasoning_is_split_from_the_answer_whole_and_in_every_split(
    parser: ReasoningParser, prompt: str, text: str, reasoning: str, content: str
) -> None:
    assert parser.parse(text, prompt) == ReasoningPiece(reasoning, content)
    for pieces in splits(text):
        stream = parser.stream(prompt)
        parts = [stream.feed(piece) for piece in pieces] + [stream.finish()]
        joined = ReasoningPiece(
            "".join(p.reasoning for p in parts), "".join(p.content for p in parts)
        )
        assert joined == ReasoningPiece(reasoning, content)
        assert not any("<think>" in p.reasoning + p.content for p in parts)
        assert not any("</think>" in p.content for p in parts)


def test_reasoning_streams_before_it_ends() -> None:
    stream = QWEN3.stream(PLAIN_PROMPT)

    assert stream.feed("<thi") == ReasoningPiece()
    assert stream.feed("nk>Let me see") == ReasoningPiece("Let me see", "")
    assert stream.feed(" </th") == ReasoningPiece(" ", "")
    assert stream.feed("ink>\n\nFour") == ReasoningPiece("", "Four")


def test_calls_are_found_in_the_answer_after_the_reasoning() -> None:
    text = (
        "<think>The user wants the weather; I call the tool.</think>\n"
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>'
    )
    parsing = OutputParsing(PLAIN_PROMPT, QWEN3, HermesParser())

    for pieces in splits(text):
        parser = parsing.start()
        parts = [parser.feed(piece) for piece in pieces] + [parser.finish()]
        assert "".join(p.reasoning for p in parts) == (
            "The user wants the weather; I call the tool."
        )
        assert "".join(p.content for p in parts) == ""
        assert [c for p in parts for c in p.calls] == [
            ParsedCall("get_weather", '{"city": "Paris"}')
        ]


def test_parallel_tool_calls_false_keeps_the_first_call() -> None:
    call = '<tool_call>{"name": "f", "arguments": {"n": %d}}</tool_call>'
    parser = OutputParsing(tools=HermesParser(), single_call=True).start()

    found = parser.feed(call % 1 + call % 2).calls + parser.finish().calls

    assert found == [ParsedCall("f", '{"n": 1}')]

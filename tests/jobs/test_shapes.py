"""Dataset records as requests: each row shape, its labels, settings and refusals."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from infercore._errors import InvalidRequestError
from infercore._jobs._read import UnreadableRecord, read_records
from infercore._jobs._shapes import DatasetRow, to_row
from infercore._types import TextContent


def _turns(row: DatasetRow) -> list[tuple[str, Any]]:
    return [(message.role, message.content) for message in row.request.messages or []]


def _refusal(record: Any) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as caught:
        to_row(3, record)
    return caught.value


# -- ms-swift messages --------------------------------------------------------


def test_a_last_assistant_message_is_the_label_and_is_not_sent() -> None:
    row = to_row(
        5,
        {
            "messages": [
                {"role": "user", "content": "What is 2+2?"},
                {"role": "assistant", "content": "4"},
                {"role": "user", "content": "And 3+3?"},
                {"role": "assistant", "content": "6"},
            ],
            "id": "a-1",
            "category": "maths",
            "rejected_response": "7",
        },
    )

    assert row.index == 5
    assert row.labels == "6"
    assert _turns(row) == [
        ("user", "What is 2+2?"),
        ("assistant", "4"),
        ("user", "And 3+3?"),
    ]
    assert row.settings == {}


def test_a_conversation_ending_with_the_user_has_no_label() -> None:
    row = to_row(0, {"messages": [{"role": "user", "content": "hi"}]})

    assert row.labels is None
    assert _turns(row) == [("user", "hi")]


def test_an_assistant_label_given_as_content_parts_is_its_text() -> None:
    row = to_row(
        0,
        {
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "Say hi twice"}]},
                {
                    "role": "assistant",
                    "content": [{"type": "text", "text": "hi "}, {"type": "text", "text": "hi"}],
                },
            ]
        },
    )

    assert row.labels == "hi hi"
    assert _turns(row) == [("user", [TextContent(text="Say hi twice")])]


def test_a_top_level_system_is_put_first_when_the_messages_have_none() -> None:
    row = to_row(
        0,
        {"system": "Be brief.", "messages": [{"role": "user", "content": "hi"}]},
    )

    assert _turns(row) == [("system", "Be brief."), ("user", "hi")]


def test_a_top_level_system_equal_to_the_system_message_is_kept_once() -> None:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]

    row = to_row(0, {"system": "Be brief.", "messages": messages})

    assert _turns(row) == [("system", "Be brief."), ("user", "hi")]


def test_a_top_level_system_that_differs_from_the_system_message_is_refused() -> None:
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]

    error = _refusal({"system": "Be long.", "messages": messages})

    assert error.param == "system"


def test_media_lists_tools_and_column_nulls_are_taken_as_ms_swift_gives_them() -> None:
    tool = {"type": "function", "function": {"name": "now", "parameters": {}}}
    row = to_row(
        0,
        {
            "messages": [
                # A column table fills absent keys with nulls; loss is a training weight.
                {"role": "user", "content": "<image><image> then <audio>", "loss": None},
                {"role": "assistant", "content": "two pictures", "loss": True, "tool_calls": None},
            ],
            "images": ["a.png", {"path": "b.png", "bytes": None}],
            "audios": {"bytes": b"RIFF\x00\x00\x00\x00WAVE"},
            "videos": None,
            "tools": '[{"type": "function", "function": {"name": "now", "parameters": {}}}]',
            "system": None,
        },
    )

    assert row.request.images == ["a.png", "b.png"]
    assert row.request.audios == ["data:application/octet-stream;base64,UklGRgAAAABXQVZF"]
    assert row.request.videos == []
    assert row.request.tools == [tool]
    assert row.labels == "two pictures"
    assert _turns(row) == [("user", "<image><image> then <audio>")]


def test_one_media_item_given_alone_is_a_list_of_one() -> None:
    row = to_row(0, {"query": "<video>what happens?", "videos": "clip.mp4"})

    assert row.request.videos == ["clip.mp4"]


@pytest.mark.parametrize(
    ("record", "param"),
    [
        ({"messages": [{"role": "user", "content": "hi"}], "images": [3]}, "images.0"),
        ({"messages": [{"role": "user", "content": "hi"}], "audios": [{"url": "x"}]}, "audios.0"),
        ({"messages": [{"role": "user", "content": "hi"}], "tools": "not json"}, "tools"),
        ({"messages": [{"role": "user", "content": "hi"}], "tools": {"name": "x"}}, "tools"),
        ({"messages": "hi"}, "messages"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "robot", "content": "hi"}]}, "messages.0.role"),
        (
            {"messages": [{"role": "user", "content": "a"}, {"role": "user", "tone": "b"}]},
            "messages.1.tone",
        ),
        ({"messages": [{"role": "assistant", "content": "only an answer"}]}, "messages"),
        (
            {"system": "s", "messages": [{"role": "assistant", "content": "only an answer"}]},
            "messages",
        ),
    ],
)
def test_chat_rows_that_cannot_be_requests_are_refused_naming_the_field(
    record: dict[str, Any], param: str
) -> None:
    error = _refusal(record)

    assert error.param == param
    assert str(error).startswith("row 3")


# -- alpaca --------------------------------------------------------------------


def test_alpaca_joins_instruction_and_input_and_takes_output_as_label() -> None:
    row = to_row(
        1,
        {
            "system": "You translate.",
            "instruction": "Translate to French:",
            "input": "cat",
            "output": "chat",
            "text": "ignored data column",
        },
    )

    assert _turns(row) == [("system", "You translate."), ("user", "Translate to French:\ncat")]
    assert row.labels == "chat"


def test_alpaca_with_an_empty_input_sends_the_instruction_alone() -> None:
    row = to_row(0, {"instruction": "Name a colour.", "input": "", "output": None})

    assert _turns(row) == [("user", "Name a colour.")]
    assert row.labels is None


def test_alpaca_history_becomes_earlier_turns() -> None:
    row = to_row(0, {"history": [["Say a.", "a"]], "instruction": "Say b.", "output": "b"})

    assert _turns(row) == [("user", "Say a."), ("assistant", "a"), ("user", "Say b.")]


def test_alpaca_with_an_empty_instruction_is_refused() -> None:
    assert _refusal({"instruction": " ", "output": "x"}).param == "instruction"


# -- query/response ------------------------------------------------------------


def test_query_response_history_becomes_earlier_turns() -> None:
    row = to_row(
        0,
        {
            "system": "Count.",
            "history": [["one", "1"], ["two", "2"]],
            "query": "three",
            "response": "3",
        },
    )

    assert _turns(row) == [
        ("system", "Count."),
        ("user", "one"),
        ("assistant", "1"),
        ("user", "two"),
        ("assistant", "2"),
        ("user", "three"),
    ]
    assert row.labels == "3"


def test_a_numeric_response_is_its_text() -> None:
    assert to_row(0, {"query": "6*7?", "response": 42}).labels == "42"
    assert to_row(0, {"query": "half?", "response": 0.5}).labels == "0.5"


@pytest.mark.parametrize(
    ("record", "param"),
    [
        ({"query": "q", "history": [["a", "b"], ["c"]]}, "history.1"),
        ({"query": "q", "history": "a, b"}, "history"),
        ({"query": ["q"]}, "query"),
        ({"query": "q", "response": True}, "response"),
        ({"query": "q", "system": 5}, "system"),
    ],
)
def test_query_rows_with_fields_of_the_wrong_kind_are_refused(
    record: dict[str, Any], param: str
) -> None:
    assert _refusal(record).param == param


# -- OpenAI request bodies -----------------------------------------------------


def test_a_request_body_keeps_its_settings_and_ignores_model_and_stream() -> None:
    row = to_row(
        2,
        {
            "model": "gpt-4o-mini",
            "stream": True,
            "stream_options": {"include_usage": True},
            "messages": [{"role": "user", "content": "hi"}],
            "temperature": 0.2,
            "max_completion_tokens": 16,
            "stop": "END",
            "seed": 7,
            "n": 2,
            "logprobs": True,
            "top_logprobs": 3,
            "top_p": None,
            "id": "req-9",
        },
    )

    assert row.settings == {
        "temperature": 0.2,
        "max_tokens": 16,
        "stop": ["END"],
        "seed": 7,
        "n": 2,
        "logprobs": True,
        "top_logprobs": 3,
    }
    assert _turns(row) == [("user", "hi")]
    assert row.labels is None


def test_a_body_with_only_model_has_no_settings() -> None:
    row = to_row(0, {"model": "m", "messages": [{"role": "user", "content": "hi"}]})

    assert row.settings == {}


def test_settings_given_as_csv_text_are_converted() -> None:
    row = to_row(0, {"query": "hi", "temperature": "0.5", "max_tokens": "8"})

    assert row.settings == {"temperature": 0.5, "max_tokens": 8}


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"temperature": 3}, "temperature"),
        ({"max_completion_tokens": 0}, "max_completion_tokens"),
        ({"max_tokens": 8, "max_completion_tokens": 16}, "max_completion_tokens"),
        ({"top_logprobs": 2}, None),
        ({"model": "m", "logit_bias": {"50256": -100}}, "logit_bias"),
        ({"model": "m", "response_format": {"type": "xml"}}, "response_format"),
        ({"temperature": 1.0, "category_name": "x"}, "category_name"),
    ],
)
def test_bad_or_unknown_body_fields_are_refused_by_name(
    fields: dict[str, Any], param: str | None
) -> None:
    error = _refusal({"messages": [{"role": "user", "content": "hi"}], **fields})

    assert error.param == param


def test_a_data_row_with_null_settings_is_not_a_body() -> None:
    row = to_row(
        0,
        {
            "messages": [{"role": "user", "content": "hi"}],
            "temperature": None,
            "model": None,
            "anything": "else",
        },
    )

    assert row.settings == {}


# -- records of no shape -------------------------------------------------------


def test_a_record_that_is_not_an_object_is_refused() -> None:
    error = _refusal(["messages"])

    assert "not an object" in str(error)
    assert error.param is None


def test_a_record_of_no_known_shape_names_its_columns() -> None:
    error = _refusal({"prompt_text": "hi", "answer": "x"})

    assert error.param == "messages"
    assert "answer, prompt_text" in str(error)


def test_a_record_with_two_shapes_is_refused() -> None:
    error = _refusal({"query": "q", "instruction": "i"})

    assert error.param == "query"


def test_an_unreadable_record_is_refused_with_its_message() -> None:
    with pytest.raises(InvalidRequestError, match="line 4: not valid JSON"):
        to_row(2, UnreadableRecord("rows.jsonl, line 4: not valid JSON (Expecting value)"))


def test_rows_read_from_a_file_keep_their_indexes_past_refused_ones(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text(
        'query,response,history\nfirst,1,"[[""a"", ""b""]]"\n,2,\nthird,3,\n', encoding="utf-8"
    )
    outcomes: list[tuple[int, str | None]] = []
    for index, record in read_records([path]):
        try:
            outcomes.append((index, to_row(index, record).labels))
        except InvalidRequestError as error:
            outcomes.append((index, f"refused: {error.param}"))

    assert outcomes == [(0, "1"), (1, "refused: messages"), (2, "3")]

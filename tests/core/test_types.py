"""The request and response models: OpenAI wire shapes, content parts, config bounds."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pydantic
import pytest
from openai.types.chat import ChatCompletion
from openai.types.chat import ChatCompletionChunk as OpenAIChunk

import infercore
from infercore.types import (
    AudioContent,
    ChatCompletionChunk,
    ChatCompletionResponse,
    ChatMessage,
    ImageContent,
    ImageURLContent,
    InferRequest,
    InputAudioContent,
    RequestConfig,
    TextContent,
    VideoContent,
    VideoURLContent,
)

QUESTION = {"messages": [{"role": "user", "content": "Hi, 世界 🌍!"}]}


def _extras(model: pydantic.BaseModel, path: str = "") -> Iterator[str]:
    """Every field the OpenAI model did not define (it keeps unknown keys as extras)."""
    for key in model.model_extra or {}:
        yield f"{path}{key}"
    for name in type(model).model_fields:
        value = getattr(model, name)
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            if isinstance(item, pydantic.BaseModel):
                yield from _extras(item, f"{path}{name}[{i}].")


def _response(engine: infercore.Engine, config: dict[str, Any]) -> ChatCompletionResponse:
    (response,) = engine.infer([QUESTION], config)
    return response


def _chunks(engine: infercore.Engine, config: dict[str, Any]) -> list[ChatCompletionChunk]:
    (stream,) = engine.stream([QUESTION], config)
    return list(stream)


# -- the official openai client parses what we produce -----------------------------------


def test_openai_parses_a_response_with_logprobs_and_usage(fake_engine: infercore.Engine) -> None:
    ours = _response(fake_engine, {"temperature": 0, "logprobs": True, "top_logprobs": 2})

    parsed = ChatCompletion.model_validate(ours.model_dump(mode="json"))

    assert list(_extras(parsed)) == []
    assert parsed.id == ours.id
    assert parsed.object == "chat.completion"
    choice = parsed.choices[0]
    assert choice.message.role == "assistant"
    assert choice.message.content == "Hi, 世界 🌍!"
    assert choice.finish_reason == "stop"
    assert parsed.usage is not None
    assert parsed.usage.model_dump() == {
        **ours.usage.model_dump(),
        "completion_tokens_details": None,
        "prompt_tokens_details": None,
    }
    assert choice.logprobs is not None
    assert choice.logprobs.content is not None
    assert len(choice.logprobs.content) == ours.usage.completion_tokens
    first = choice.logprobs.content[0]
    assert first.token == "H"
    assert first.bytes == [ord("H")]
    assert len(first.top_logprobs) == 2
    assert first.top_logprobs[0].token == "H"
    assert first.top_logprobs[0].logprob == first.logprob


def test_openai_parses_every_stream_chunk(fake_engine: infercore.Engine) -> None:
    config = {"temperature": 0, "logprobs": True, "stream_options": {"include_usage": True}}
    chunks = _chunks(fake_engine, config)

    parsed = [OpenAIChunk.model_validate(chunk.model_dump(mode="json")) for chunk in chunks]

    assert [path for chunk in parsed for path in _extras(chunk)] == []
    assert parsed[0].choices[0].delta.role == "assistant"
    text = "".join(chunk.choices[0].delta.content or "" for chunk in parsed if chunk.choices)
    assert text == "Hi, 世界 🌍!"
    finishing = [
        c.choices[0].finish_reason for c in parsed if c.choices and c.choices[0].finish_reason
    ]
    assert finishing == ["stop"]
    assert parsed[-1].choices == []
    assert parsed[-1].usage is not None
    assert parsed[-1].usage.completion_tokens == len("Hi, 世界 🌍!".encode()) + 1
    entries = [
        e
        for c in parsed
        if c.choices and c.choices[0].logprobs
        for e in c.choices[0].logprobs.content or []
    ]
    assert len(entries) == parsed[-1].usage.completion_tokens


def test_openai_parses_a_response_without_logprobs() -> None:
    ours = ChatCompletionResponse.model_validate(
        {
            "model": "m",
            "choices": [{"index": 0, "message": {"content": "hello"}, "finish_reason": "length"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
        }
    )

    parsed = ChatCompletion.model_validate(ours.model_dump(mode="json"))

    assert parsed.choices[0].logprobs is None
    assert parsed.choices[0].finish_reason == "length"
    assert parsed.id.startswith("chatcmpl-")
    assert parsed.created == ours.created


# -- requests ------------------------------------------------------------------------------

EVERY_PART: list[dict[str, Any]] = [
    {"type": "text", "text": "Describe these."},
    {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "low"}},
    {"type": "video_url", "video_url": {"url": "file:///data/clip.mp4"}},
    {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
    {"type": "image", "image": "/data/cat.jpg"},
    {"type": "video", "video": "data:video/mp4;base64,AAAA"},
    {"type": "audio", "audio": "https://example.com/a.wav"},
]
PART_TYPES: list[type[pydantic.BaseModel]] = [
    TextContent,
    ImageURLContent,
    VideoURLContent,
    InputAudioContent,
    ImageContent,
    VideoContent,
    AudioContent,
]


def test_request_accepts_every_content_part_type() -> None:
    request = InferRequest.model_validate({"messages": [{"role": "user", "content": EVERY_PART}]})

    content = request.messages[0].content
    assert isinstance(content, list)
    assert [type(part) for part in content] == PART_TYPES
    assert request.model_dump(exclude_none=True)["messages"][0]["content"] == EVERY_PART


def test_request_accepts_the_tag_form_with_media_lists() -> None:
    request = InferRequest.model_validate(
        {
            "messages": [{"role": "user", "content": "<image><image>Compare, then <video><audio>"}],
            "images": ["a.png", "b.png"],
            "videos": ["c.mp4"],
            "audios": ["d.wav"],
        }
    )

    assert request.images == ["a.png", "b.png"]
    assert request.videos == ["c.mp4"]
    assert request.audios == ["d.wav"]


def test_request_refuses_an_unknown_content_part_type() -> None:
    with pytest.raises(pydantic.ValidationError, match="file"):
        InferRequest.model_validate(
            {"messages": [{"role": "user", "content": [{"type": "file", "file": "x"}]}]}
        )


def test_request_needs_at_least_one_message() -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        InferRequest.model_validate({"messages": []})
    assert caught.value.errors()[0]["loc"] == ("messages",)


def test_a_user_message_needs_content_but_an_assistant_one_does_not() -> None:
    assert ChatMessage(role="assistant").content is None
    with pytest.raises(pydantic.ValidationError, match="a user message needs content"):
        ChatMessage(role="user")


def test_request_refuses_unknown_fields() -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        InferRequest.model_validate({"messages": [{"role": "user", "content": "x"}], "img": []})
    assert caught.value.errors()[0]["loc"] == ("img",)


# -- the request config --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [("temperature", -1), ("n", 0), ("max_tokens", 0), ("top_p", 2), ("top_logprobs", 21)],
)
def test_config_refuses_out_of_range_values_naming_the_field(field: str, value: float) -> None:
    settings: dict[str, Any] = {field: value}
    if field == "top_logprobs":
        settings["logprobs"] = True

    with pytest.raises(pydantic.ValidationError) as caught:
        RequestConfig.model_validate(settings)

    assert [error["loc"] for error in caught.value.errors()] == [(field,)]


def test_config_accepts_the_bounds_themselves() -> None:
    config = RequestConfig(
        temperature=0, n=1, max_tokens=1, top_p=1, top_logprobs=20, logprobs=True
    )

    assert (config.temperature, config.n, config.max_tokens, config.top_p) == (0, 1, 1, 1)


def test_config_stop_string_becomes_a_list() -> None:
    assert RequestConfig.model_validate({"stop": "END"}).stop == ["END"]
    assert RequestConfig.model_validate({"stop": ["a", "b"]}).stop == ["a", "b"]


def test_config_refuses_an_empty_stop_string() -> None:
    with pytest.raises(pydantic.ValidationError, match="stop strings must not be empty"):
        RequestConfig(stop=["ok", ""])


def test_config_refuses_top_logprobs_without_logprobs() -> None:
    with pytest.raises(pydantic.ValidationError, match="top_logprobs needs logprobs"):
        RequestConfig(top_logprobs=3)


def test_config_refuses_unknown_fields() -> None:
    with pytest.raises(pydantic.ValidationError) as caught:
        RequestConfig.model_validate({"max_new_tokens": 5})
    assert caught.value.errors()[0]["loc"] == ("max_new_tokens",)


def test_a_request_takes_messages_or_a_raw_prompt_but_not_both() -> None:
    assert InferRequest(prompt="Once upon a time").prompt == "Once upon a time"
    for fields in ({}, {"prompt": "x", "messages": [{"role": "user", "content": "y"}]}):
        with pytest.raises(pydantic.ValidationError, match="either messages or prompt"):
            InferRequest.model_validate(fields)

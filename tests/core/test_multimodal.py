"""Where media sit in a conversation: content parts and tags become the same plan."""

from __future__ import annotations

import pytest

from infercore import InferRequest, InvalidRequestError
from infercore._multimodal import plan_media

IMAGE = "https://example.com/cat.png"
VIDEO = "/videos/clip.mp4"


def _plan(**fields: object) -> tuple[list[dict[str, object]], dict[str, list[str]]]:
    plan = plan_media(InferRequest.model_validate(fields))
    return plan.conversation, {k: v for k, v in plan.sources.items() if v}


def test_content_parts_and_tags_give_the_same_plan() -> None:
    parts = _plan(
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": IMAGE}},
                    {"type": "text", "text": "What is it?"},
                ],
            }
        ]
    )
    short = _plan(
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image", "image": IMAGE},
                    {"type": "text", "text": "What is it?"},
                ],
            }
        ]
    )
    tags = _plan(messages=[{"role": "user", "content": "<image>What is it?"}], images=[IMAGE])
    expected = (
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What is it?"}]}],
        {"image": [IMAGE]},
    )
    assert parts == short == tags == expected


def test_tags_take_their_sources_in_order_across_messages_and_modalities() -> None:
    conversation, sources = _plan(
        messages=[
            {"role": "user", "content": "First <image> then <video>."},
            {"role": "assistant", "content": "Seen."},
            {"role": "user", "content": [{"type": "text", "text": "And <image>?"}]},
        ],
        images=["a.png", "b.png"],
        videos=[VIDEO],
    )
    assert sources == {"image": ["a.png", "b.png"], "video": [VIDEO]}
    assert conversation[0]["content"] == [
        {"type": "text", "text": "First "},
        {"type": "image"},
        {"type": "text", "text": " then "},
        {"type": "video"},
        {"type": "text", "text": "."},
    ]
    assert conversation[1]["content"] == "Seen."
    assert conversation[2]["content"] == [
        {"type": "text", "text": "And "},
        {"type": "image"},
        {"type": "text", "text": "?"},
    ]


def test_input_audio_becomes_a_data_uri() -> None:
    part = {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}
    _, sources = _plan(messages=[{"role": "user", "content": [part]}])
    assert sources == {"audio": ["data:audio/wav;base64,UklGRg=="]}


@pytest.mark.parametrize(
    ("content", "images", "message"),
    [
        ("<image><image>Compare.", ["a.png"], "more <image> tags than the 1 images"),
        ("Describe it.", ["a.png"], "lists 1 images but the messages have 0 <image> tags"),
    ],
)
def test_a_tag_count_that_does_not_match_the_list_is_refused(
    content: str, images: list[str], message: str
) -> None:
    with pytest.raises(InvalidRequestError, match=message) as caught:
        _plan(messages=[{"role": "user", "content": content}], images=images)
    assert caught.value.param == "images"


def test_text_only_requests_keep_plain_strings() -> None:
    conversation, sources = _plan(
        messages=[
            {
                "role": "user",
                "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
            }
        ]
    )
    assert conversation == [{"role": "user", "content": "a\nb"}]
    assert sources == {}

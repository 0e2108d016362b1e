"""Video through the real server and the official ``openai`` client, on a small Qwen2-VL."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from clips import write_clip
from PIL import Image
from vlm_models import make_qwen2_vl_model

from infercore.testing import deployed, serving_folder

QUESTION = "What is in this video?"


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_clip(tmp_path_factory.mktemp("videos") / "ramp.mp4", 3.0)


@pytest.fixture(scope="module")
def video_url(video: Path) -> Iterator[str]:
    with serving_folder(video.parent) as url:
        yield f"{url}/{video.name}"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    model = make_qwen2_vl_model(tmp_path_factory.mktemp("qwen2vl") / "qwen2-vl")
    # The test's media server is on loopback, which a server refuses unless allowed.
    flags = ["--model", str(model), "--backend", "pt", "-O", "dtype=float32",
             "--served-model-name", "vlm", "--allowed-media-networks", "127.0.0.0/8",
             "--limit-mm-per-prompt", '{"video": 1}']  # fmt: skip
    with deployed(*flags, env={"OMP_NUM_THREADS": "1"}) as url:
        yield url


def _client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)


def _messages(*videos: str) -> Any:
    parts: list[dict[str, Any]] = [
        {"type": "video_url", "video_url": {"url": video}} for video in videos
    ]
    return [{"role": "user", "content": [*parts, {"type": "text", "text": QUESTION}]}]


def _ask(client: openai.OpenAI, *videos: str) -> openai.types.chat.ChatCompletion:
    return client.chat.completions.create(
        model="vlm", messages=_messages(*videos), max_tokens=8, temperature=0
    )


def test_a_video_url_and_the_same_video_in_base64_get_the_same_answer(
    server: str, video: Path, video_url: str
) -> None:
    client = _client(server)
    data_uri = "data:video/mp4;base64," + base64.b64encode(video.read_bytes()).decode()
    by_url = _ask(client, video_url)
    by_data = _ask(client, data_uri)
    assert by_url.choices[0].message.content
    assert by_url.choices[0].message.content == by_data.choices[0].message.content
    assert by_url.usage is not None
    assert by_data.usage is not None
    # 3 s at the default 2 fps: 6 frames, 3 pairs of 2x2 tokens, after 17 text tokens.
    assert by_url.usage.prompt_tokens == by_data.usage.prompt_tokens == 17 + 12


def test_a_streamed_video_answer_is_the_same_text(server: str, video_url: str) -> None:
    client = _client(server)
    whole = _ask(client, video_url).choices[0].message.content
    stream = client.chat.completions.create(
        model="vlm", messages=_messages(video_url), max_tokens=8, temperature=0, stream=True
    )
    pieces = [chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices]
    assert "".join(pieces) == whole


def test_bad_videos_get_a_400_and_the_server_goes_on(server: str, video_url: str) -> None:
    client = _client(server)
    not_a_video = "data:video/mp4;base64," + base64.b64encode(b"not a video at all").decode()
    with pytest.raises(openai.BadRequestError) as undecodable:
        _ask(client, not_a_video)
    assert isinstance(undecodable.value.body, dict)
    assert undecodable.value.body["code"] == "invalid_media"
    with pytest.raises(openai.BadRequestError) as too_many:
        _ask(client, video_url, video_url)
    assert isinstance(too_many.value.body, dict)
    assert too_many.value.body["code"] == "too_many_items"
    assert _ask(client, video_url).choices[0].message.content


def test_a_streamed_chat_whose_image_the_processor_refuses_gets_a_400(
    server: str, video_url: str
) -> None:
    """Qwen2-VL's processor refuses an aspect ratio over 200: the server answers 400 before
    the stream starts, not a 200 stream that carries an error event."""
    buffer = io.BytesIO()
    Image.new("RGB", (500, 2), "white").save(buffer, format="PNG")
    sliver = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": sliver}},
                {"type": "text", "text": "What is this?"},
            ],
        }
    ]
    client = _client(server)
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(
            model="vlm", messages=messages, max_tokens=8, temperature=0, stream=True
        )
    assert refused.value.status_code == 400
    assert isinstance(refused.value.body, dict)
    assert "processor refused" in refused.value.body["message"]
    assert refused.value.body["param"] == "messages"
    assert _ask(client, video_url).choices[0].message.content

"""Images through the real server and the official ``openai`` client, on a small VLM."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

pytest.importorskip("torch")
from PIL import Image
from vlm_models import make_idefics3_model

from infercore.testing import deployed, serving_folder

QUESTION = "What is in this image?"


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("images") / "red.png"
    Image.new("RGB", (100, 120), (255, 0, 0)).save(path)
    return path


@pytest.fixture(scope="module")
def image_url(image: Path) -> Iterator[str]:
    with serving_folder(image.parent) as url:
        yield f"{url}/{image.name}"


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_idefics3_model(tmp_path_factory.mktemp("vlm") / "idefics3")


def _client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)


def _ask(client: openai.OpenAI, url: str) -> openai.types.chat.ChatCompletion:
    return client.chat.completions.create(
        model="vlm",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "image_url", "image_url": {"url": url}},
                    {"type": "text", "text": QUESTION},
                ],
            }
        ],
        max_tokens=6,
        temperature=0,
    )


def test_an_image_url_and_the_same_image_in_base64_get_the_same_answer(
    model: Path, image: Path, image_url: str
) -> None:
    # The test's image server is on loopback, which a server refuses unless allowed.
    flags = ["--model", str(model), "--backend", "pt", "-O", "dtype=float32",
             "--served-model-name", "vlm", "--allowed-media-networks", "127.0.0.0/8"]  # fmt: skip
    data_uri = "data:image/png;base64," + base64.b64encode(image.read_bytes()).decode()
    with deployed(*flags, env={"OMP_NUM_THREADS": "1"}) as url:
        client = _client(url)
        by_url = _ask(client, image_url)
        by_data = _ask(client, data_uri)
    assert by_url.choices[0].message.content == by_data.choices[0].message.content
    assert by_url.usage is not None
    assert by_data.usage is not None
    assert by_url.usage.prompt_tokens == by_data.usage.prompt_tokens == 48


def test_a_loopback_image_url_is_refused_by_default_and_the_server_goes_on(
    model: Path, image: Path, image_url: str
) -> None:
    flags = ["--model", str(model), "--backend", "pt", "-O", "dtype=float32",
             "--served-model-name", "vlm"]  # fmt: skip
    with deployed(*flags, env={"OMP_NUM_THREADS": "1"}) as url:
        client = _client(url)
        with pytest.raises(openai.BadRequestError) as refused:
            _ask(client, image_url)
        body = refused.value.body
        assert isinstance(body, dict)
        assert body["code"] == "address_not_allowed"
        assert "address_not_allowed" in body["message"]
        with pytest.raises(openai.BadRequestError) as local:
            client.chat.completions.create(
                model="vlm",
                messages=[{"role": "user", "content": [{"type": "image", "image": str(image)}]}],  # type: ignore[list-item]
                max_tokens=2,
            )
        assert isinstance(local.value.body, dict)
        assert local.value.body["code"] == "local_path_not_allowed"
        # Refusals harm nothing: the same image inline is answered.
        data_uri = "data:image/png;base64," + base64.b64encode(image.read_bytes()).decode()
        assert _ask(client, data_uri).choices[0].message.content

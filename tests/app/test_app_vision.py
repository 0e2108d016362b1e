"""``infercore app`` on a multimodal model, in headless Chromium: an image uploaded in the
page reaches the model (the small Idefics3 around SmolLM2; two images, two answers), over
a local engine and over ``infercore deploy`` with its safe media limits."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from chat_page import APP, ONE_THREAD, ChatPage
from PIL import Image
from playwright.sync_api import expect
from vlm_models import make_idefics3_model

from infercore.testing import deployed

QUESTION = "What is in this image?"


GREEDY = ["--temperature", "0", "--max-tokens", "6"]


@pytest.fixture(scope="module")
def engine_flags(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    model = make_idefics3_model(tmp_path_factory.mktemp("vlm") / "idefics3")
    return ["--model", str(model), "--backend", "pt", "-O", "dtype=float32"]


@pytest.fixture(scope="module")
def local_app(engine_flags: list[str]) -> Iterator[str]:
    with deployed(*engine_flags, *GREEDY, command=APP, env=ONE_THREAD, ready_path="/") as url:
        yield url


@pytest.fixture(scope="module")
def remote_app(engine_flags: list[str]) -> Iterator[str]:
    with deployed(*engine_flags, env=ONE_THREAD) as server:
        flags = ["--base-url", f"{server}/v1", *GREEDY]
        with deployed(*flags, command=APP, env=ONE_THREAD, ready_path="/") as url:
            yield url


@pytest.fixture(params=["local", "remote"])
def vision_app(request: pytest.FixtureRequest) -> str:
    return str(request.getfixturevalue(f"{request.param}_app"))


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two clearly different 100x120 images: flat red, and random noise."""
    folder = tmp_path_factory.mktemp("images")
    red = folder / "red.png"
    Image.new("RGB", (100, 120), (255, 0, 0)).save(red)
    noise = folder / "noise.png"
    pixels = np.random.default_rng(0).integers(0, 256, (120, 100, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(noise)
    return {"red": red, "noise": noise}


def test_the_answer_depends_on_the_uploaded_image(
    vision_app: str, images: dict[str, Path], open_page: Callable[[str], ChatPage]
) -> None:
    page = open_page(vision_app)
    answers = {}
    for name, image in images.items():
        page.ask(QUESTION, files=[image])
        page.wait_answer()
        # The question shows with its image, then the answer.
        expect(page.page.locator("#chat .message.user img")).to_have_count(1)
        page.shot(f"answered-{name}")
        answers[name] = page.last_answer()
        assert answers[name].strip()
        page.click("clear")
        expect(page.page.locator("#chat .message.bot")).to_have_count(0)
    assert answers["red"] != answers["noise"]

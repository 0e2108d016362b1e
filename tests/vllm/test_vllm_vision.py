"""Images through vLLM's multi_modal_data, against the pt backend on the same small VLM."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from vllm_settings import VLLM_OPTIONS

import infercore
from infercore.testing import make_idefics3_model

GREEDY = {"temperature": 0.0, "max_tokens": 12}


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_idefics3_model(tmp_path_factory.mktemp("vlm") / "idefics3")


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("images")
    red, noise = folder / "red.png", folder / "noise.png"
    Image.new("RGB", (100, 120), (255, 0, 0)).save(red)
    pixels = np.random.default_rng(0).integers(0, 256, (120, 100, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(noise)
    return [red, noise]


def _ask(image: Path) -> dict[str, Any]:
    return {
        "messages": [{"role": "user", "content": "<image>What is in this image?"}],
        "images": [str(image)],
    }


def _answers(engine: infercore.Engine, images: list[Path]) -> list[tuple[int, str]]:
    responses = engine.infer([_ask(image) for image in images], GREEDY)
    return [
        (r.usage.prompt_tokens, r.choices[0].message.content or "")  # type: ignore[union-attr]
        for r in responses
    ]


@pytest.fixture(scope="module")
def vllm_answers(model_path: Path, images: list[Path]) -> Iterator[list[tuple[int, str]]]:
    with infercore.Engine(str(model_path), backend="vllm", **VLLM_OPTIONS) as engine:
        yield _answers(engine, images)


def test_an_image_changes_the_answer_and_counts_the_processors_tokens(
    vllm_answers: list[tuple[int, str]],
) -> None:
    (red_tokens, red), (noise_tokens, noise) = vllm_answers
    # A 100x120 image: 48 prompt tokens with the question, as the processor expands it.
    assert red_tokens == noise_tokens == 48
    assert red != noise


def test_vllm_and_pt_see_the_same_prompt_and_answer_alike(
    vllm_answers: list[tuple[int, str]], model_path: Path, images: list[Path]
) -> None:
    with infercore.Engine(str(model_path), backend="pt", dtype="float32") as engine:
        assert _answers(engine, images) == vllm_answers

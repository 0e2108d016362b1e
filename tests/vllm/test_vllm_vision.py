"""Images through vLLM's multi_modal_data, against the pt backend on the same small VLM."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from vllm_settings import VLLM_OPTIONS
from vlm_models import make_idefics3_model

import infercore

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


def test_videos_reach_vllm_with_the_metadata_of_their_sampled_frames() -> None:
    """Frames the core sampled go with what vLLM's own loader would say of them,
    in the form vLLM's parser takes, for the models that need it to place frames."""
    from vllm.multimodal.parse import MultiModalDataParser

    from infercore_vllm._backend import _media_data

    clip = infercore.VideoClip(
        frames=np.zeros((4, 48, 64, 3), dtype=np.uint8),
        timestamps=(0.25, 0.75, 1.25, 1.75),
        frame_indices=(2, 7, 12, 17),
        fps=2.0,
        source_fps=10.0,
        total_frames=20,
        duration=2.0,
    )
    request = infercore.PreparedRequest("r", "<video>", (), videos=(clip,))
    parsed = MultiModalDataParser(video_needs_metadata=True).parse_mm_data(_media_data(request))
    videos = parsed["video"]
    assert videos.get_count() == 1
    assert videos.metadata == [
        {
            "total_num_frames": 20,
            "fps": 10.0,
            "duration": 2.0,
            "frames_indices": [2, 7, 12, 17],
            "do_sample_frames": False,
        }
    ]

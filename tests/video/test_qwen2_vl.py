"""Video (and images) through Qwen2-VL on the pt backend.

A small Qwen2-VL is built here around SmolLM2 with the real Qwen2-VL
processor, whose video processor needs torchvision; that is why these tests
have an environment of their own. Qwen2-VL gives media tokens grid positions
(multimodal rotary embeddings), so these tests also hold the pt batch to
placing each row's decode positions where ``generate`` would.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from clips import write_clip
from media_chat import media_prompt, outcomes
from media_prefill import prefill_together_and_alone
from PIL import Image
from transformers import AutoModelForImageTextToText, AutoProcessor
from vlm_models import make_qwen2_vl_model

import infercore
from infercore import MediaLimits, VideoClip
from infercore.testing import serving_folder

QUESTION = "What is in this video?"
GREEDY = {"temperature": 0.0, "max_tokens": 8}
#: Each pair of 64x48 frames becomes one temporal patch of 2x2 tokens.
TOKENS_PER_FRAME_PAIR = 4


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_qwen2_vl_model(tmp_path_factory.mktemp("qwen2vl") / "qwen2-vl")


@pytest.fixture(scope="module")
def engine(model_path: Path) -> Iterator[infercore.Engine]:
    with infercore.Engine(str(model_path), backend="pt", dtype="float32") as e:
        yield e


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("videos")
    return {
        "ramp": write_clip(folder / "ramp.mp4", 3.0),
        "noise": write_clip(folder / "noise.mp4", 3.0, noise_seed=1),
    }


@pytest.fixture(scope="module")
def server_url(videos: dict[str, Path]) -> Iterator[str]:
    with serving_folder(videos["ramp"].parent) as url:
        yield url


def _video_request(source: str) -> dict[str, Any]:
    return {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "video_url", "video_url": {"url": source}},
                    {"type": "text", "text": QUESTION},
                ],
            }
        ]
    }


def _text_request(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def _at_2_fps(path: Path) -> VideoClip:
    """What infercore samples from a 10 fps test clip at the default 2 fps: the
    middle frame of each fifth."""
    with av.open(str(path)) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    picked = list(range(2, len(decoded), 5))
    return VideoClip(
        frames=np.stack([decoded[i] for i in picked]),
        timestamps=tuple(i / 10 for i in picked),
        frame_indices=tuple(picked),
        fps=2.0,
        source_fps=10.0,
        total_frames=len(decoded),
        duration=len(decoded) / 10,
    )


def _text_tokens(model_path: Path) -> int:
    """The prompt's length without the video's tokens."""
    processor = AutoProcessor.from_pretrained(model_path)
    prompt = media_prompt(processor, "video", QUESTION)
    ids = processor.tokenizer(prompt, add_special_tokens=False).input_ids
    # The template's one <|video_pad|> placeholder becomes the video's tokens.
    return len(ids) - 1


def test_the_text_model_is_smollm2(engine: infercore.Engine) -> None:
    """Qwen2-VL's own rotary positions, with text alone, leave SmolLM2's answer."""
    ((text, _),) = outcomes(engine, [_text_request("What is the capital of France?")], GREEDY)
    assert "Paris" in text


@pytest.mark.parametrize(
    ("fps", "max_frames", "frames"),
    [(2.0, 64, 6), (4.0, 64, 12), (4.0, 4, 4)],
    ids=["2fps", "4fps", "4fps-capped-at-4"],
)
def test_a_video_yields_the_configured_number_of_frames(
    model_path: Path, videos: dict[str, Path], fps: float, max_frames: int, frames: int
) -> None:
    limits = MediaLimits.trusted(fps=fps, max_frames=max_frames)
    with infercore.Engine(str(model_path), backend="pt", dtype="float32", media=limits) as engine:
        ((_, prompt_tokens),) = outcomes(engine, [_video_request(str(videos["ramp"]))], GREEDY)
    video_tokens = prompt_tokens - _text_tokens(model_path)
    # The 3 s clip at `fps` frames per second, capped at `max_frames`; the model
    # takes frames two at a time.
    assert video_tokens == frames // 2 * TOKENS_PER_FRAME_PAIR


def test_the_video_tokens_are_the_processors(
    engine: infercore.Engine, model_path: Path, videos: dict[str, Path]
) -> None:
    """The processor, given the frames infercore sampled, counts as many prompt tokens."""
    frames = _at_2_fps(videos["ramp"]).frames
    processor = AutoProcessor.from_pretrained(model_path)
    prompt = media_prompt(processor, "video", QUESTION)
    expected = processor(text=[prompt], videos=[frames], do_sample_frames=False)
    assert expected["video_grid_thw"].tolist() == [[3, 4, 4]]
    ((_, prompt_tokens),) = outcomes(engine, [_video_request(str(videos["ramp"]))], GREEDY)
    assert prompt_tokens == len(expected["input_ids"][0])


def test_a_different_video_changes_the_output(
    engine: infercore.Engine, videos: dict[str, Path]
) -> None:
    (ramp, ramp_tokens), (noise, noise_tokens) = outcomes(
        engine, [_video_request(str(videos["ramp"])), _video_request(str(videos["noise"]))], GREEDY
    )
    assert ramp_tokens == noise_tokens  # same size and length: as many video tokens
    assert ramp != noise


def test_every_form_of_the_same_video_gives_the_same_result(
    engine: infercore.Engine, videos: dict[str, Path], server_url: str
) -> None:
    path = videos["ramp"]
    encoded = base64.b64encode(path.read_bytes()).decode()
    requests = [
        _video_request(str(path)),
        {"messages": [{"role": "user", "content": f"<video>{QUESTION}"}], "videos": [str(path)]},
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "video", "video": str(path)},
                        {"type": "text", "text": QUESTION},
                    ],
                }
            ]
        },
        _video_request(f"data:video/mp4;base64,{encoded}"),
        _video_request(f"{server_url}/{path.name}"),
    ]
    answers = outcomes(engine, requests, GREEDY)
    assert answers == [answers[0]] * len(requests), answers


def test_video_image_and_text_requests_batch_as_each_alone(
    engine: infercore.Engine, videos: dict[str, Path], tmp_path: Path
) -> None:
    """Rows whose media moved their positions decode beside rows that have none."""
    image = tmp_path / "red.png"
    Image.new("RGB", (100, 120), (255, 0, 0)).save(image)
    image_request = {
        "messages": [{"role": "user", "content": "<image>What is in this image?"}],
        "images": [str(image)],
    }
    requests = [
        _text_request("What is the capital of France?"),
        _video_request(str(videos["noise"])),
        image_request,
        _text_request("Name a colour."),
        _video_request(str(videos["ramp"])),
    ]
    alone = [outcomes(engine, [request], GREEDY)[0] for request in requests]
    together = outcomes(engine, requests, GREEDY)
    assert together == alone


def test_the_answer_is_transformers_generate(
    engine: infercore.Engine, model_path: Path, videos: dict[str, Path]
) -> None:
    """Greedy decoding after a video prefill follows ``generate`` token for token."""
    import torch

    ((text, _),) = outcomes(engine, [_video_request(str(videos["noise"]))], GREEDY)
    processor = AutoProcessor.from_pretrained(model_path)
    model = AutoModelForImageTextToText.from_pretrained(model_path, dtype=torch.float32).eval()
    prompt = media_prompt(processor, "video", QUESTION)
    frames = _at_2_fps(videos["noise"]).frames
    inputs = processor(text=[prompt], videos=[frames], do_sample_frames=False, return_tensors="pt")
    with torch.inference_mode():
        output = model.generate(**inputs, do_sample=False, max_new_tokens=GREEDY["max_tokens"])
    new = output[0, inputs["input_ids"].shape[1] :]
    assert text == processor.tokenizer.decode(new, skip_special_tokens=True)


def test_videos_of_different_lengths_prefill_together_as_each_alone(
    engine: infercore.Engine, videos: dict[str, Path], tmp_path: Path
) -> None:
    """Left padding and each row's own rotary offset, in one Qwen2-VL prefill."""
    short = write_clip(tmp_path / "short.mp4", 1.0, noise_seed=2)
    clips = [_at_2_fps(videos["ramp"]), _at_2_fps(short)]
    processor = engine.backend.processor
    prompt = media_prompt(processor, "video", QUESTION)
    prefill_together_and_alone(engine, prompt, [{"videos": (clip,)} for clip in clips])


def test_an_image_the_processor_refuses_raises_before_any_chunk(
    engine: infercore.Engine,
) -> None:
    """Qwen2-VL's processor refuses an aspect ratio over 200; the backend's prepare step
    raises it when the streams are asked for, before any of them starts."""
    buffer = io.BytesIO()
    Image.new("RGB", (500, 2), "white").save(buffer, format="PNG")
    request = {
        "messages": [{"role": "user", "content": "<image>What is this?"}],
        "images": ["data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()],
    }
    with pytest.raises(infercore.InvalidRequestError, match="processor refused") as refused:
        engine.stream([request, _text_request("Hi")], GREEDY)
    assert refused.value.param == "messages"
    assert engine.backend.active_requests == 0

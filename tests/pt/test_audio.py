"""Audio on the pt backend: a small Qwen2-Audio around SmolLM2.

The model is built here from configs (a random two-layer audio tower in
front of the trained SmolLM2), with the real Qwen2-Audio processor and its
Whisper feature extractor, so every step of the audio path runs: loading and
resampling, the placeholder expansion, the features in the prefill, and
decoding in the shared batch.
"""

from __future__ import annotations

import base64
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from media_chat import media_prompt, outcomes
from media_prefill import prefill_together_and_alone
from transformers import AutoProcessor
from vlm_models import make_qwen2_audio_model

import infercore

QUESTION = "What do you hear?"
GREEDY = {"temperature": 0.0, "max_tokens": 8}
#: The Whisper front end makes 100 frames a second; Qwen2-Audio one token per four.
TOKENS_PER_SECOND = 25


def write_wav(path: Path, seconds: float, *, rate: int = 44_100, noise: bool = False) -> Path:
    """Mono 16-bit PCM: a 440 Hz tone, or white noise."""
    t = np.arange(round(seconds * rate)) / rate
    if noise:
        samples = np.random.default_rng(0).uniform(-0.5, 0.5, t.shape)
    else:
        samples = 0.5 * np.sin(2 * np.pi * 440.0 * t)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes((samples * 32767).astype("<i2").tobytes())
    return path


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_qwen2_audio_model(tmp_path_factory.mktemp("audio-lm") / "qwen2-audio")


@pytest.fixture(scope="module")
def engine(model_path: Path) -> Iterator[infercore.Engine]:
    with infercore.Engine(str(model_path), backend="pt", dtype="float32") as e:
        yield e


@pytest.fixture(scope="module")
def sounds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sounds")
    return {
        "tone": write_wav(folder / "tone.wav", 1.0),
        "noise": write_wav(folder / "noise.wav", 1.0, noise=True),
        "long": write_wav(folder / "long.wav", 2.0),
    }


def _audio_request(path: Path) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": f"<audio>{QUESTION}"}], "audios": [str(path)]}


def test_a_different_sound_changes_the_output(
    engine: infercore.Engine, sounds: dict[str, Path]
) -> None:
    (tone, tone_tokens), (noise, noise_tokens) = outcomes(
        engine, [_audio_request(sounds["tone"]), _audio_request(sounds["noise"])], GREEDY
    )
    assert tone_tokens == noise_tokens
    assert tone != noise


def test_audio_tokens_follow_the_length_as_the_processor_counts_them(
    engine: infercore.Engine, model_path: Path, sounds: dict[str, Path]
) -> None:
    (_, one_second), (_, two_seconds) = outcomes(
        engine, [_audio_request(sounds["tone"]), _audio_request(sounds["long"])], GREEDY
    )
    assert two_seconds - one_second == TOKENS_PER_SECOND
    processor = AutoProcessor.from_pretrained(model_path)
    prompt = media_prompt(processor, "audio", QUESTION)
    rate = processor.feature_extractor.sampling_rate
    one_second_of_audio = np.zeros(rate, dtype=np.float32)
    expected = processor(text=[prompt], audio=[one_second_of_audio], sampling_rate=rate)
    assert one_second == len(expected["input_ids"][0])


def test_every_form_of_the_same_sound_gives_the_same_result(
    engine: infercore.Engine, sounds: dict[str, Path]
) -> None:
    path = sounds["tone"]
    encoded = base64.b64encode(path.read_bytes()).decode()

    def part_request(part: dict[str, Any]) -> dict[str, Any]:
        return {
            "messages": [{"role": "user", "content": [part, {"type": "text", "text": QUESTION}]}]
        }

    requests = [
        _audio_request(path),
        part_request({"type": "input_audio", "input_audio": {"data": encoded, "format": "wav"}}),
        part_request({"type": "audio", "audio": str(path)}),
        part_request({"type": "audio", "audio": f"data:audio/wav;base64,{encoded}"}),
    ]
    answers = outcomes(engine, requests, GREEDY)
    assert answers == [answers[0]] * len(requests), answers


def test_audio_and_text_requests_batch_as_each_alone(
    engine: infercore.Engine, sounds: dict[str, Path]
) -> None:
    requests = [
        {"messages": [{"role": "user", "content": "What is the capital of France?"}]},
        _audio_request(sounds["noise"]),
        _audio_request(sounds["long"]),
    ]
    alone = [outcomes(engine, [request], GREEDY)[0] for request in requests]
    assert "Paris" in alone[0][0]
    assert outcomes(engine, requests, GREEDY) == alone


def test_an_image_for_the_audio_model_is_refused(engine: infercore.Engine, tmp_path: Path) -> None:
    from PIL import Image

    image = tmp_path / "red.png"
    Image.new("RGB", (32, 32), (255, 0, 0)).save(image)
    request = {"messages": [{"role": "user", "content": "<image>Hi"}], "images": [str(image)]}
    with pytest.raises(infercore.InvalidRequestError, match="does not take images"):
        engine.infer([request], GREEDY)


def test_audio_prompts_of_different_lengths_prefill_together_as_each_alone(
    engine: infercore.Engine,
) -> None:
    processor = engine.backend.processor
    prompt = media_prompt(processor, "audio", QUESTION)
    rate = processor.feature_extractor.sampling_rate
    t = np.arange(2 * rate) / rate
    one_second = (0.5 * np.sin(2 * np.pi * 440.0 * t[:rate])).astype(np.float32)
    two_seconds = np.random.default_rng(1).uniform(-0.5, 0.5, t.shape).astype(np.float32)
    prefill_together_and_alone(
        engine, prompt, [{"audios": (one_second,)}, {"audios": (two_seconds,)}]
    )

"""Audio through vLLM's multi_modal_data, against the pt backend on the same small Qwen2-Audio."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
from vllm_settings import VLLM_OPTIONS
from vlm_models import make_qwen2_audio_model

import infercore

GREEDY = {"temperature": 0.0, "max_tokens": 12}


@pytest.fixture(scope="module")
def model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_qwen2_audio_model(tmp_path_factory.mktemp("audio-lm") / "qwen2-audio")


@pytest.fixture(scope="module")
def requests(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """A 1 s tone, 1 s of noise and a 2 s tone, at 44.1 kHz (each backend gets 16 kHz)."""
    folder = tmp_path_factory.mktemp("sounds")
    rate = 44_100
    clips = {
        "tone.wav": 0.5 * np.sin(2 * np.pi * 440.0 * np.arange(rate) / rate),
        "noise.wav": np.random.default_rng(0).uniform(-0.5, 0.5, rate),
        "long.wav": 0.5 * np.sin(2 * np.pi * 440.0 * np.arange(2 * rate) / rate),
    }
    asks = []
    for name, samples in clips.items():
        soundfile.write(folder / name, samples, rate)
        asks.append(
            {
                "messages": [{"role": "user", "content": "<audio>What do you hear?"}],
                "audios": [str(folder / name)],
            }
        )
    return asks


def _answers(engine: infercore.Engine, requests: list[dict[str, Any]]) -> list[tuple[int, str]]:
    return [
        (r.usage.prompt_tokens, r.choices[0].message.content or "")  # type: ignore[union-attr]
        for r in engine.infer(requests, GREEDY)
    ]


def test_vllm_and_pt_hear_the_same_prompt_and_answer_alike(
    model_path: Path, requests: list[dict[str, Any]]
) -> None:
    with infercore.Engine(str(model_path), backend="vllm", **VLLM_OPTIONS) as engine:
        by_vllm = _answers(engine, requests)
    (tone_tokens, tone), (noise_tokens, noise), (long_tokens, _) = by_vllm
    # 25 audio tokens a second, as the processor expands the placeholder.
    assert tone_tokens == noise_tokens == long_tokens - 25
    assert tone != noise
    with infercore.Engine(str(model_path), backend="pt", dtype="float32") as engine:
        assert _answers(engine, requests) == by_vllm

"""Audio through the real server and the official ``openai`` client, on a small Qwen2-Audio."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator

import numpy as np
import openai
import pytest

pytest.importorskip("torch")
import soundfile
from vlm_models import make_qwen2_audio_model

from infercore.testing import deployed

QUESTION = "What do you hear?"


def _wav(samples: np.ndarray, rate: int = 44_100) -> str:
    out = io.BytesIO()
    soundfile.write(out, samples, rate, format="WAV")
    return base64.b64encode(out.getvalue()).decode()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    model = make_qwen2_audio_model(tmp_path_factory.mktemp("audio-lm") / "qwen2-audio")
    flags = ["--model", str(model), "--backend", "pt", "-O", "dtype=float32",
             "--served-model-name", "audio"]  # fmt: skip
    with deployed(*flags, env={"OMP_NUM_THREADS": "1"}) as url:
        yield url


def _ask(url: str, data: str, fmt: str = "wav") -> openai.types.chat.ChatCompletion:
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    return client.chat.completions.create(
        model="audio",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "input_audio", "input_audio": {"data": data, "format": fmt}},  # type: ignore[typeddict-item]
                    {"type": "text", "text": QUESTION},
                ],
            }
        ],
        max_tokens=8,
        temperature=0,
    )


def test_input_audio_is_heard(server: str) -> None:
    t = np.arange(44_100) / 44_100
    tone = _ask(server, _wav(0.5 * np.sin(2 * np.pi * 440.0 * t)))
    noise = _ask(server, _wav(np.random.default_rng(0).uniform(-0.5, 0.5, t.shape)))
    assert tone.usage is not None
    assert noise.usage is not None
    # 25 audio tokens for the second of sound, after 16 text tokens.
    assert tone.usage.prompt_tokens == noise.usage.prompt_tokens == 16 + 25
    assert tone.choices[0].message.content
    assert tone.choices[0].message.content != noise.choices[0].message.content


def test_audio_that_does_not_decode_gets_a_400_and_the_server_goes_on(server: str) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        _ask(server, base64.b64encode(b"RIFF but not really a wave file").decode())
    assert isinstance(refused.value.body, dict)
    assert refused.value.body["code"] == "invalid_media"
    assert _ask(server, _wav(np.zeros(16_000), rate=16_000)).choices[0].message.content

"""load_audio: wav, flac, mp3 (and ogg) to mono float32 at the model's rate."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from media_files import AUDIO_RATE, AUDIO_SECONDS, audio_bytes, tone
from media_server import MediaServer

from infercore._media import (
    MediaDecodeError,
    MediaFetcher,
    MediaLimits,
    MediaTooLargeError,
    load_audio,
)


@pytest.fixture
async def fetcher(loopback_limits: MediaLimits) -> AsyncIterator[MediaFetcher]:
    async with MediaFetcher(loopback_limits) as fetcher:
        yield fetcher


def tone_error(samples: np.ndarray, rate: int) -> float:
    """The largest difference from the 440 Hz tone at ``rate``, away from the edges."""
    expected = tone(rate)[: len(samples)]
    edge = rate // 50  # 20 ms: the filter's reach, where the signal starts and stops
    return float(np.abs(samples[edge:-edge] - expected[edge:-edge]).max())


@pytest.mark.parametrize("rate", [16000, 22050, 24000, 44100, 48000, 8000])
async def test_wav_is_resampled_to_the_model_rate(
    media_server: MediaServer, fetcher: MediaFetcher, rate: int
) -> None:
    samples = await load_audio(media_server.url("/audio.wav"), rate, fetcher.limits, fetcher)
    assert samples.dtype == np.float32
    assert samples.ndim == 1  # the two channels mixed down
    assert abs(len(samples) - AUDIO_SECONDS * rate) <= 1
    # 16-bit quantisation is ~3e-5; the resampler adds well under 1e-3 on a 440 Hz tone.
    assert tone_error(samples, rate) < 2e-3


@pytest.mark.parametrize(
    ("fmt", "subtype", "tolerance"),
    [("FLAC", "PCM_16", 2e-3), ("OGG", "VORBIS", 0.05), ("MP3", "MPEG_LAYER_III", 0.05)],
)
async def test_compressed_formats(fmt: str, subtype: str, tolerance: float) -> None:
    samples = await load_audio(audio_bytes(fmt, subtype), 16000, MediaLimits())
    assert abs(len(samples) - AUDIO_SECONDS * 16000) <= 1
    assert tone_error(samples, 16000) < tolerance


async def test_every_source_form_gives_the_same_samples(
    media_server: MediaServer, fetcher: MediaFetcher, tmp_path: Path
) -> None:
    data = media_server.files["/audio.wav"][0]
    (tmp_path / "a.wav").write_bytes(data)
    encoded = base64.b64encode(data).decode()
    limits = fetcher.limits.model_copy(update={"allowed_local_media_path": tmp_path})
    reference = await load_audio(data, 16000, limits)
    for source in (
        media_server.url("/audio.wav"),
        str(tmp_path / "a.wav"),
        encoded,  # the OpenAI input_audio form
        f"data:audio/wav;base64,{encoded}",
    ):
        assert np.array_equal(await load_audio(source, 16000, limits, fetcher), reference)


async def test_the_file_rate_is_kept_when_it_is_the_model_rate() -> None:
    samples = await load_audio(audio_bytes(rate=16000), 16000, MediaLimits())
    assert len(samples) == 16000


async def test_audio_over_the_duration_cap_is_refused_before_decoding() -> None:
    with pytest.raises(MediaTooLargeError, match=r"1\.0 s") as too_long:
        await load_audio(audio_bytes(), 16000, MediaLimits(audio_max_seconds=0.5))
    assert too_long.value.reason == "too_long"
    assert too_long.value.status == 413


async def test_the_audio_byte_cap() -> None:
    data = audio_bytes()
    with pytest.raises(MediaTooLargeError):
        await load_audio(data, 16000, MediaLimits(audio_max_bytes=len(data) - 1))


async def test_bytes_that_are_no_audio() -> None:
    with pytest.raises(MediaDecodeError) as invalid:
        await load_audio(b"\1\2\3" * 1000, 16000, MediaLimits())
    assert invalid.value.reason == "invalid_media"


async def test_a_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="sampling_rate"):
        await load_audio(audio_bytes(), 0, MediaLimits())


def test_the_tone_helper_matches_the_file() -> None:
    assert len(tone()) == AUDIO_RATE * AUDIO_SECONDS

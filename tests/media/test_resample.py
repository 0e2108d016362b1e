"""The numpy polyphase resampler: lengths, gain, accuracy and anti-aliasing."""

from __future__ import annotations

import numpy as np
import pytest

from infercore._media import resample, resampled_length
from infercore._media._resample import _lowpass

RATES = [
    (44100, 16000),
    (48000, 16000),
    (16000, 44100),
    (8000, 16000),
    (22050, 24000),
    (44100, 44099),
]


def sine(freq: float, rate: int, seconds: float = 0.5) -> np.ndarray:
    return np.sin(2 * np.pi * freq * np.arange(round(rate * seconds)) / rate).astype(np.float32)


@pytest.mark.parametrize(("source", "target"), RATES)
def test_length_is_duration_times_rate(source: int, target: int) -> None:
    for length in (0, 1, 7, source // 3, source):
        out = resample(np.zeros(length, np.float32), source, target)
        assert len(out) == resampled_length(length, source, target)
        assert abs(len(out) - length * target / source) < 1


@pytest.mark.parametrize(("source", "target"), RATES)
def test_a_tone_below_both_nyquists_is_kept(source: int, target: int) -> None:
    out = resample(sine(440, source), source, target)
    expected = sine(440, target)[: len(out)]
    edge = target // 50
    # The Kaiser (beta 5) design ripples by ~0.2% in the passband, as scipy's does.
    assert np.abs(out[edge:-edge] - expected[edge:-edge]).max() < 2e-3


def test_dc_gain_is_one() -> None:
    out = resample(np.ones(4410, np.float32), 44100, 16000)
    assert np.abs(out[100:-100] - 1).max() < 1e-3


def test_a_tone_above_the_new_nyquist_is_filtered_out() -> None:
    # 10 kHz cannot exist at 16 kHz: it must not alias down to 6 kHz.
    out = resample(sine(10000, 44100), 44100, 16000)
    edge = 16000 // 50
    rms = float(np.sqrt(np.mean(out[edge:-edge] ** 2)))
    assert rms < 0.707 * 10 ** (-40 / 20)  # at least 40 dB down


def test_same_rate_is_a_copy() -> None:
    signal = sine(440, 16000)
    out = resample(signal, 16000, 16000)
    assert np.array_equal(out, signal)
    assert out is not signal


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="positive"):
        resample(np.zeros(4, np.float32), 0, 16000)
    with pytest.raises(ValueError, match="1-D"):
        resample(np.zeros((4, 2), np.float32), 44100, 16000)


@pytest.mark.parametrize(("source", "target"), [(3, 2), (2, 3), (441, 160), (1, 4), (5, 1)])
def test_polyphase_equals_the_definition(source: int, target: int) -> None:
    """Upsample by zero-stuffing, filter, keep every down-th sample: computed the long way."""
    x = np.random.default_rng(1).standard_normal(300).astype(np.float32)
    h = _lowpass(target, source)
    half = (len(h) - 1) // 2
    stuffed = np.zeros(len(x) * target)
    stuffed[::target] = x
    filtered = np.convolve(stuffed, h)[half:]  # centred: output t sees h around t
    expected = filtered[::source][: resampled_length(len(x), source, target)]
    assert np.abs(resample(x, source, target) - expected).max() < 1e-5


def test_matches_scipy_where_it_is_installed() -> None:
    signal = pytest.importorskip("scipy.signal")
    x = np.random.default_rng(0).standard_normal(5000).astype(np.float32)
    for source, target in RATES:
        ours = resample(x, source, target)
        theirs = signal.resample_poly(x, target, source)
        assert np.abs(ours - theirs).max() < 1e-4

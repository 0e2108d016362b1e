"""Audio: decoded to mono float32 and resampled to the model's rate.

soundfile (libsndfile ≥ 1.1, bundled in soundfile ≥ 0.12's wheels) reads wav, flac, ogg and
mp3. Where it cannot read a file and PyAV is installed, PyAV decodes it (m4a, opus, ...).
"""

from __future__ import annotations

import asyncio
import io
from typing import TYPE_CHECKING

from infercore._media._errors import MediaDecodeError, MediaDependencyError, MediaTooLargeError
from infercore._media._fetch import MediaFetcher
from infercore._media._limits import MediaLimits
from infercore._media._resample import resample
from infercore._media._source import MediaSource, read_source

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["decode_audio", "load_audio"]


def _require() -> None:
    try:
        import numpy  # noqa: F401
        import soundfile  # noqa: F401
    except ImportError as exc:
        raise MediaDependencyError("loading audio", "soundfile and numpy", "audio") from exc


def _too_long(seconds: float, cap: float) -> MediaTooLargeError:
    return MediaTooLargeError(
        f"the audio lasts {seconds:.1f} s, over the limit of {cap:g} s (audio_max_seconds)",
        reason="too_long",
    )


def _with_soundfile(data: bytes, max_seconds: float) -> tuple[npt.NDArray[np.float32], int]:
    import soundfile

    with soundfile.SoundFile(io.BytesIO(data)) as file:
        rate = int(file.samplerate)
        # The header's length, checked before the samples are decoded.
        if file.frames > max_seconds * rate:
            raise _too_long(file.frames / rate, max_seconds)
        samples = file.read(dtype="float32", always_2d=True)
    return samples.mean(axis=1, dtype="float32"), rate


def _with_pyav(data: bytes, max_seconds: float) -> tuple[npt.NDArray[np.float32], int]:
    import av
    import numpy as np

    with av.open(io.BytesIO(data), mode="r") as container:
        if not container.streams.audio:
            raise MediaDecodeError("the file has no audio stream", reason="invalid_media")
        stream = container.streams.audio[0]
        rate = int(stream.codec_context.sample_rate or stream.rate or 0)
        if rate <= 0:
            raise MediaDecodeError("the audio declares no sample rate", reason="invalid_media")
        # Mixed down to mono float at the file's own rate; resampling is ours, as for soundfile.
        mixer = av.AudioResampler(format="flt", layout="mono", rate=rate)
        chunks: list[npt.NDArray[np.float32]] = []
        decoded = 0
        for frame in container.decode(stream):
            for mixed in mixer.resample(frame):
                chunk = mixed.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                decoded += chunk.size
                # Counted while decoding: a compressed stream's header may not say its length.
                if decoded > max_seconds * rate:
                    raise _too_long(decoded / rate, max_seconds)
                chunks.append(chunk)
        for mixed in mixer.resample(None):
            chunks.append(mixed.to_ndarray().reshape(-1).astype(np.float32, copy=False))
    return (np.concatenate(chunks) if chunks else np.zeros(0, np.float32)), rate


def decode_audio(data: bytes, limits: MediaLimits) -> tuple[npt.NDArray[np.float32], int]:
    """Mono float32 samples (channels averaged) and their sample rate.

    Refuses audio longer than ``limits.audio_max_seconds``. Blocking: call it in a thread.
    """
    _require()
    import soundfile

    try:
        return _with_soundfile(data, limits.audio_max_seconds)
    except (soundfile.LibsndfileError, RuntimeError, TypeError) as exc:
        soundfile_failure: Exception = exc
    try:
        import av
    except ImportError:
        raise MediaDecodeError(
            f"the audio could not be decoded ({soundfile_failure}); wav, flac, ogg and mp3 are "
            "read, and other formats need PyAV (pip install av)",
            reason="invalid_media",
        ) from soundfile_failure
    try:
        return _with_pyav(data, limits.audio_max_seconds)
    except av.FFmpegError as exc:
        raise MediaDecodeError(
            f"the audio could not be decoded: {soundfile_failure}; PyAV: {exc}",
            reason="invalid_media",
        ) from exc


async def load_audio(
    source: MediaSource,
    sampling_rate: int,
    limits: MediaLimits | None = None,
    fetcher: MediaFetcher | None = None,
) -> npt.NDArray[np.float32]:
    """Mono float32 samples at ``sampling_rate`` from a URL, a local path, base64 (as in the
    OpenAI ``input_audio`` part), a data URI or the file's bytes.

    Resampled with :func:`~infercore._media._resample.resample`, so its length is
    ``ceil(samples × sampling_rate / file_rate)``. Decoding runs in a thread. Raises
    :class:`~infercore._media.MediaError`, or :class:`MediaDependencyError` without
    soundfile and numpy (the ``audio`` extra).
    """
    if sampling_rate <= 0:
        raise ValueError(f"sampling_rate must be positive, not {sampling_rate}")
    _require()
    limits = limits if limits is not None else MediaLimits()
    data = await read_source(source, "audio", limits, fetcher)

    def decode_and_resample() -> npt.NDArray[np.float32]:
        samples, rate = decode_audio(data, limits)
        return resample(samples, rate, sampling_rate)

    return await asyncio.to_thread(decode_and_resample)

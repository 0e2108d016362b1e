"""Videos: frames sampled at ``fps`` (at most ``max_frames``), resized under the frame budget.

Decoding is decord's, which resizes while it decodes. decord cannot tell a frame's size
without decoding one, so PyAV reads the size from the container header first, and a video
whose frames declare more than ``max_image_pixels`` is refused before any frame is decoded.
"""

from __future__ import annotations

import asyncio
import io
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from infercore._media._errors import (
    MediaDecodeError,
    MediaDependencyError,
    MediaError,
    MediaTooLargeError,
)
from infercore._media._fetch import MediaFetcher
from infercore._media._limits import MediaLimits
from infercore._media._pixels import fit_pixels
from infercore._media._source import MediaSource, read_source

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["VideoClip", "decode_video", "load_video", "probe_video_size", "sample_indices"]


@dataclass(frozen=True)
class VideoClip:
    """Frames sampled from a video.

    ``frames`` is uint8 RGB, shaped ``[T, H, W, 3]``; ``timestamps`` are each frame's
    presentation time in seconds; ``frame_indices`` its index among the source's
    ``total_frames``. ``fps`` is the rate the frames stand for (``T / duration``), which is
    what a model's processor needs to place them in time; ``source_fps`` the file's own.
    """

    frames: npt.NDArray[np.uint8]
    timestamps: tuple[float, ...]
    frame_indices: tuple[int, ...]
    fps: float
    source_fps: float
    total_frames: int
    duration: float


def sample_indices(total_frames: int, source_fps: float, fps: float, max_frames: int) -> list[int]:
    """Which frames to keep: ``min(round(duration × fps), max_frames)`` of them (at least
    one, at most every frame), one from the middle of each equal slice of the video.

    Slice middles rather than ``linspace(0, last)``: at ``fps`` the frames come exactly
    ``1/fps`` apart, and a capped long video is still covered evenly end to end.
    """
    duration = total_frames / source_fps
    count = max(1, min(max_frames, total_frames, math.floor(duration * fps + 0.5)))
    step = total_frames / count
    return [min(total_frames - 1, math.floor((i + 0.5) * step)) for i in range(count)]


def _missing(package: str) -> MediaDependencyError:
    return MediaDependencyError("loading videos", package, "video")


def _require() -> None:
    for module, package in (("decord", "decord"), ("av", "av (PyAV)"), ("numpy", "numpy")):
        try:
            __import__(module)
        except ImportError as exc:
            raise _missing(package) from exc


def probe_video_size(data: bytes) -> tuple[int, int]:
    """The width and height of the first video stream, from the header (PyAV)."""
    try:
        import av
    except ImportError as exc:
        raise _missing("av (PyAV)") from exc
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.video:
                raise MediaDecodeError("the file has no video stream", reason="invalid_media")
            context = container.streams.video[0].codec_context
            width, height = int(context.width), int(context.height)
    except av.FFmpegError as exc:
        raise MediaDecodeError(
            f"the video could not be read: {exc}", reason="invalid_media"
        ) from exc
    if width <= 0 or height <= 0:
        raise MediaDecodeError("the video does not declare its frame size", reason="invalid_media")
    return width, height


def decode_video(data: bytes, limits: MediaLimits) -> VideoClip:
    """Probe, check and decode a video file into a :class:`VideoClip`.

    Blocking and CPU-heavy: call it in a thread.
    """
    try:
        import decord
    except ImportError as exc:
        raise _missing("decord") from exc
    width, height = probe_video_size(data)
    if width * height > limits.max_image_pixels:
        raise MediaTooLargeError(
            f"the video's frames declare {width}x{height} = {width * height} pixels, over the "
            f"limit of {limits.max_image_pixels} (max_image_pixels); nothing was decoded",
            reason="too_many_pixels",
        )
    size = fit_pixels(width, height, limits.video_max_pixels)
    resize: dict[str, Any] = (
        {} if size == (width, height) else {"width": size[0], "height": size[1]}
    )
    try:
        reader = decord.VideoReader(io.BytesIO(data), ctx=decord.cpu(0), **resize)
        total = len(reader)
        source_fps = float(reader.get_avg_fps())
        if not (total > 0 and source_fps > 0 and math.isfinite(source_fps)):
            raise MediaDecodeError(
                f"the video reports {total} frames at {source_fps} fps", reason="invalid_media"
            )
        indices = sample_indices(total, source_fps, limits.fps, limits.max_frames)
        frames = reader.get_batch(indices).asnumpy()
        stamps = reader.get_frame_timestamp(indices)[:, 0]
    except MediaError:
        raise  # ours, from inside the block (a ValueError, like decord's own errors)
    except (decord.DECORDError, RuntimeError, AssertionError, IndexError, ValueError) as exc:
        raise MediaDecodeError(
            f"the video could not be decoded: {exc}", reason="invalid_media"
        ) from exc
    duration = total / source_fps
    return VideoClip(
        frames=frames,
        timestamps=tuple(round(float(stamp), 6) for stamp in stamps),
        frame_indices=tuple(indices),
        fps=len(indices) / duration,
        source_fps=source_fps,
        total_frames=total,
        duration=duration,
    )


async def load_video(
    source: MediaSource,
    limits: MediaLimits | None = None,
    fetcher: MediaFetcher | None = None,
) -> VideoClip:
    """A :class:`VideoClip` from a URL, a local path, base64, a data URI or the file's bytes.

    Frames are sampled at ``limits.fps`` up to ``limits.max_frames`` and resized under
    ``limits.video_max_pixels``; frames declaring more than ``limits.max_image_pixels`` are
    refused undecoded. Decoding runs in a thread. Raises
    :class:`~infercore._media.MediaError`, or :class:`MediaDependencyError` without decord
    and PyAV (the ``video`` extra).
    """
    _require()
    limits = limits if limits is not None else MediaLimits()
    data = await read_source(source, "video", limits, fetcher)
    return await asyncio.to_thread(decode_video, data, limits)

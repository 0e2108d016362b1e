"""load_video: frames sampled at fps up to max_frames, resized under the frame budget.

The test video (media_files.video_bytes) is 2 s at 10 fps, 64x48, and frame i is grey at
level 10·i, so a sampled frame's brightness tells which frame it is.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from media_files import VIDEO_FPS, VIDEO_SECONDS, VIDEO_SIZE, video_bytes
from media_server import MediaServer

from infercore._media import (
    MediaDecodeError,
    MediaFetcher,
    MediaLimits,
    MediaTooLargeError,
    VideoClip,
    load_video,
    sample_indices,
)

TOTAL = VIDEO_FPS * VIDEO_SECONDS


@pytest.fixture
async def fetcher(loopback_limits: MediaLimits) -> AsyncIterator[MediaFetcher]:
    async with MediaFetcher(loopback_limits) as fetcher:
        yield fetcher


def frame_levels(clip: VideoClip) -> list[int]:
    """Each frame's mean grey level, rounded to the nearest source frame's (10·i)."""
    return [round(float(frame.mean()) / 10) * 10 for frame in clip.frames]


@pytest.mark.parametrize(
    ("fps", "max_frames", "count"),
    [(2.0, 128, 4), (2.0, 3, 3), (5.0, 128, 10), (1.0, 128, 2), (0.25, 128, 1), (50.0, 128, TOTAL)],
)
async def test_frame_count_is_duration_times_fps_capped(
    media_server: MediaServer, fetcher: MediaFetcher, fps: float, max_frames: int, count: int
) -> None:
    limits = fetcher.limits.model_copy(update={"fps": fps, "max_frames": max_frames})
    clip = await load_video(media_server.url("/video.mp4"), limits, fetcher)
    assert count == min(max(1, round(VIDEO_SECONDS * fps)), max_frames, TOTAL)
    assert clip.frames.shape == (count, VIDEO_SIZE[1], VIDEO_SIZE[0], 3)
    assert clip.frames.dtype == np.uint8
    assert len(clip.timestamps) == len(clip.frame_indices) == count
    assert clip.total_frames == TOTAL
    assert clip.source_fps == pytest.approx(VIDEO_FPS)
    assert clip.duration == pytest.approx(VIDEO_SECONDS)
    assert clip.fps == pytest.approx(count / VIDEO_SECONDS)
    # The frames are the ones the indices name, in order, and the timestamps are theirs.
    assert frame_levels(clip) == [10 * i for i in clip.frame_indices]
    assert list(clip.timestamps) == pytest.approx([i / VIDEO_FPS for i in clip.frame_indices])


async def test_frames_at_fps_are_one_over_fps_apart(media_server: MediaServer) -> None:
    clip = await load_video(media_server.files["/video.mp4"][0], MediaLimits(fps=2.0))
    assert clip.frame_indices == (2, 7, 12, 17)
    assert np.diff(clip.timestamps) == pytest.approx([0.5, 0.5, 0.5])


@pytest.mark.parametrize("budget", [1000, 768, 100, 3072])
async def test_frames_are_resized_under_video_max_pixels(
    media_server: MediaServer, budget: int
) -> None:
    limits = MediaLimits(video_max_pixels=budget, fps=1.0)
    clip = await load_video(media_server.files["/video.mp4"][0], limits)
    _, height, width, _ = clip.frames.shape
    assert width * height <= budget
    assert abs(width / height - VIDEO_SIZE[0] / VIDEO_SIZE[1]) < 0.1
    if budget >= VIDEO_SIZE[0] * VIDEO_SIZE[1]:
        assert (width, height) == VIDEO_SIZE


async def test_every_source_form_gives_the_same_frames(
    media_server: MediaServer, fetcher: MediaFetcher, tmp_path: Path
) -> None:
    data = media_server.files["/video.mp4"][0]
    (tmp_path / "clip.mp4").write_bytes(data)
    encoded = base64.b64encode(data).decode()
    limits = fetcher.limits.model_copy(update={"allowed_local_media_path": tmp_path})
    reference = await load_video(data, limits)
    for source in (
        media_server.url("/video.mp4"),
        str(tmp_path / "clip.mp4"),
        tmp_path / "clip.mp4",
        encoded,
        f"data:video/mp4;base64,{encoded}",
    ):
        clip = await load_video(source, limits, fetcher)
        assert np.array_equal(clip.frames, reference.frames), source


async def test_frames_declaring_too_many_pixels_are_refused_undecoded() -> None:
    with pytest.raises(MediaTooLargeError, match="64x48") as bomb:
        await load_video(video_bytes(seconds=0.5), MediaLimits(max_image_pixels=3000))
    assert bomb.value.reason == "too_many_pixels"


async def test_the_video_byte_cap() -> None:
    data = video_bytes(seconds=0.5)
    with pytest.raises(MediaTooLargeError):
        await load_video(data, MediaLimits(video_max_bytes=len(data) - 1))


async def test_bytes_that_are_no_video() -> None:
    with pytest.raises(MediaDecodeError) as invalid:
        await load_video(b"\0" * 4096, MediaLimits())
    assert invalid.value.reason == "invalid_media"


@pytest.mark.parametrize(
    ("total", "source_fps", "fps", "max_frames", "expected"),
    [
        (20, 10.0, 2.0, 100, [2, 7, 12, 17]),
        (20, 10.0, 2.0, 2, [5, 15]),
        (20, 10.0, 100.0, 100, list(range(20))),
        (1, 30.0, 2.0, 10, [0]),
        (3000, 30.0, 2.0, 8, [187, 562, 937, 1312, 1687, 2062, 2437, 2812]),
    ],
)
def test_sample_indices(
    total: int, source_fps: float, fps: float, max_frames: int, expected: list[int]
) -> None:
    assert sample_indices(total, source_fps, fps, max_frames) == expected

"""Test videos, written with PyAV: H.264 MP4s whose frames a test can tell apart."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

SIZE = (64, 48)  # width, height: 2x2 Qwen2-VL tokens per pair of frames
FPS = 10


def write_clip(path: Path, seconds: float, *, noise_seed: int | None = None) -> Path:
    """A ``seconds`` long clip at 10 fps: a grey ramp (frame ``i`` at level 8·i),
    or with ``noise_seed`` random colour noise."""
    rng = np.random.default_rng(noise_seed)
    width, height = SIZE
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height = SIZE
        stream.pix_fmt = "yuv420p"
        for i in range(round(seconds * FPS)):
            if noise_seed is None:
                frame = np.full((height, width, 3), (8 * i) % 256, np.uint8)
            else:
                frame = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path

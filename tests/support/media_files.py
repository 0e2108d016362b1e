"""Media files for the tests, made in memory: PNGs (and a decompression bomb), an MP4, audio."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any


def png_bytes(width: int = 40, height: int = 30, mode: str = "RGB") -> bytes:
    """A PNG with a gradient, so resizing and pixel identity are visible."""
    from PIL import Image

    image = Image.new(mode, (width, height))
    pixels = [
        (x * 255 // max(1, width - 1), y * 255 // max(1, height - 1), (x + y) % 256, 128)[
            : len(mode)
        ]
        for y in range(height)
        for x in range(width)
    ]
    image.putdata(pixels)  # type: ignore[arg-type]
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(width: int, height: int) -> bytes:
    """A valid-looking PNG of a few hundred bytes whose header declares width × height."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    # One zero row per... nothing: decoding would need width*height bytes it never gets.
    idat = zlib.compress(b"\0" * 1024)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )


VIDEO_FPS = 10
VIDEO_SECONDS = 2
VIDEO_SIZE = (64, 48)


def video_bytes(
    seconds: float = VIDEO_SECONDS, fps: int = VIDEO_FPS, size: tuple[int, int] = VIDEO_SIZE
) -> bytes:
    """An H.264 MP4 (written with PyAV) whose frame ``i`` is uniformly grey at level 10·i."""
    import av
    import numpy as np

    out = io.BytesIO()
    with av.open(out, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(round(seconds * fps)):
            frame = np.full((size[1], size[0], 3), (10 * i) % 256, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return out.getvalue()


AUDIO_RATE = 44100
AUDIO_SECONDS = 1.0
AUDIO_TONE_HZ = 440.0


def tone(rate: int = AUDIO_RATE, seconds: float = AUDIO_SECONDS) -> Any:
    import numpy as np

    t = np.arange(round(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * AUDIO_TONE_HZ * t)).astype(np.float32)


def audio_bytes(fmt: str = "WAV", subtype: str = "PCM_16", rate: int = AUDIO_RATE) -> bytes:
    """A stereo file of a 440 Hz tone, the same in both channels."""
    import numpy as np
    import soundfile

    samples = tone(rate)
    out = io.BytesIO()
    soundfile.write(out, np.stack([samples, samples], axis=1), rate, format=fmt, subtype=subtype)
    return out.getvalue()

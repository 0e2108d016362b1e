"""load_image: every source form gives the same pixels; budgets; decompression bombs."""

from __future__ import annotations

import base64
import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from media_files import bomb_png, png_bytes
from media_server import MediaServer
from PIL import Image

from infercore._media import (
    MediaDecodeError,
    MediaFetcher,
    MediaLimits,
    MediaRefusedError,
    MediaTooLargeError,
    fit_pixels,
    load_image,
)


@pytest.fixture
async def fetcher(loopback_limits: MediaLimits) -> AsyncIterator[MediaFetcher]:
    async with MediaFetcher(loopback_limits) as fetcher:
        yield fetcher


async def test_every_source_form_gives_identical_pixels(
    media_server: MediaServer, fetcher: MediaFetcher, tmp_path: Path
) -> None:
    data = media_server.files["/image.png"][0]
    path = tmp_path / "image.png"
    path.write_bytes(data)
    encoded = base64.b64encode(data).decode()
    limits = fetcher.limits.model_copy(update={"allowed_local_media_path": tmp_path})
    with Image.open(io.BytesIO(data)) as opened:
        original = opened.convert("RGB")
    sources: dict[str, object] = {
        "url": media_server.url("/image.png"),
        "redirected url": media_server.url("/redirect/image"),
        "path": str(path),
        "Path": path,
        "file URL": path.as_uri(),
        "base64": encoded,
        "data URI": f"data:image/png;base64,{encoded}",
        "bytes": data,
        "PIL": original,
    }
    for name, source in sources.items():
        image = await load_image(source, limits, fetcher)  # type: ignore[arg-type]
        assert image.mode == "RGB", name
        assert image.size == (40, 30), name
        assert image.tobytes() == original.tobytes(), name


async def test_a_pil_image_is_not_changed_in_place() -> None:
    original = Image.new("RGBA", (400, 300), (255, 0, 0, 0))
    image = await load_image(original, MediaLimits(max_pixels=1200))
    assert image is not original
    assert (original.mode, original.size) == ("RGBA", (400, 300))
    assert (image.mode, image.size) == ("RGB", (40, 30))


@pytest.mark.parametrize(
    ("size", "max_pixels", "expected"),
    [
        ((40, 30), 1200, (40, 30)),
        ((40, 30), 300, (20, 15)),
        ((1000, 10), 1000, (316, 3)),
        ((3000, 2000), 1_000_000, (1224, 816)),
        ((7, 5), None, (7, 5)),
        ((10000, 1), 10, (10, 1)),
    ],
)
def test_fit_pixels_keeps_the_aspect_ratio_under_the_budget(
    size: tuple[int, int], max_pixels: int | None, expected: tuple[int, int]
) -> None:
    width, height = fit_pixels(*size, max_pixels)
    assert (width, height) == expected
    if max_pixels is not None:
        assert width * height <= max_pixels


async def test_large_images_are_resized_under_max_pixels() -> None:
    data = png_bytes(400, 300)
    image = await load_image(data, MediaLimits(max_pixels=12_000))
    assert image.size == (126, 94)
    assert image.width * image.height <= 12_000
    assert abs(image.width / image.height - 400 / 300) < 0.02
    untouched = await load_image(data, MediaLimits(max_pixels=None))
    assert untouched.size == (400, 300)


async def test_transparency_is_composited_over_white() -> None:
    image = await load_image(png_bytes(8, 8, mode="RGBA"), MediaLimits())
    clear = Image.new("RGBA", (2, 2), (0, 0, 0, 0))
    out = io.BytesIO()
    clear.save(out, "PNG")
    white = await load_image(out.getvalue(), MediaLimits())
    assert image.mode == "RGB"
    assert white.getpixel((0, 0)) == (255, 255, 255)


async def test_a_decompression_bomb_from_the_server_is_refused(
    media_server: MediaServer, fetcher: MediaFetcher
) -> None:
    # 30000 x 30000 declared in a few hundred bytes: Pillow's own guard and ours both refuse.
    assert len(media_server.files["/bomb.png"][0]) < 1000
    with pytest.raises(MediaTooLargeError) as bomb:
        await load_image(media_server.url("/bomb.png"), fetcher.limits, fetcher)
    assert bomb.value.reason == "too_many_pixels"
    assert bomb.value.status == 413
    assert (await load_image(media_server.url("/image.png"), fetcher.limits, fetcher)).size == (
        40,
        30,
    )


async def test_the_header_is_checked_against_max_image_pixels_before_decoding() -> None:
    # 5000 x 5000 is under Pillow's guard: this refusal is ours, from the header alone.
    with pytest.raises(MediaTooLargeError, match="5000x5000") as bomb:
        await load_image(bomb_png(5000, 5000), MediaLimits(max_image_pixels=1_000_000))
    assert bomb.value.reason == "too_many_pixels"
    with pytest.raises(MediaTooLargeError):
        await load_image(png_bytes(40, 30), MediaLimits(max_image_pixels=1000))
    assert (await load_image(png_bytes(40, 30), MediaLimits(max_image_pixels=1200))).size == (
        40,
        30,
    )


async def test_bytes_that_are_no_image() -> None:
    with pytest.raises(MediaDecodeError) as invalid:
        await load_image(b"definitely not an image", MediaLimits())
    assert invalid.value.reason == "invalid_media"
    with pytest.raises(MediaDecodeError):
        await load_image(base64.b64encode(b"still not an image").decode(), MediaLimits())


async def test_the_image_byte_cap_applies_to_every_source(media_server: MediaServer) -> None:
    limits = MediaLimits(image_max_bytes=100, allowed_networks=("127.0.0.1/32",))
    data = media_server.files["/image.png"][0]
    for source in (data, base64.b64encode(data).decode(), media_server.url("/image.png")):
        with pytest.raises(MediaTooLargeError):
            await load_image(source, limits)  # a one-off fetcher with these limits


async def test_the_default_limits_refuse_local_files_and_loopback(
    media_server: MediaServer, tmp_path: Path
) -> None:
    (tmp_path / "a.png").write_bytes(png_bytes())
    with pytest.raises(MediaRefusedError) as local:
        await load_image(str(tmp_path / "a.png"))
    assert local.value.reason == "local_path_not_allowed"
    with pytest.raises(MediaRefusedError) as loopback:
        await load_image(media_server.url("/image.png"))
    assert loopback.value.reason == "address_not_allowed"

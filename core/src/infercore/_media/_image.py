"""Images: loaded from any source, checked for pixel bombs, RGB, resized under the budget."""

from __future__ import annotations

import asyncio
import io
from typing import TYPE_CHECKING, TypeAlias

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
    from PIL import Image

__all__ = ["ImageSource", "decode_image", "load_image", "prepare_image"]

#: A media source, or an image already decoded by Pillow.
ImageSource: TypeAlias = "MediaSource | Image.Image"


def _require() -> None:
    try:
        import PIL.Image  # noqa: F401
    except ImportError as exc:
        raise MediaDependencyError("loading images", "pillow", "media") from exc


def prepare_image(image: Image.Image, max_pixels: int | None) -> Image.Image:
    """RGB (transparency composited over white) and resized under ``max_pixels``.

    Always a new image, so the caller's is never changed. Resizing is bicubic, as
    qwen-vl-utils does.
    """
    from PIL import Image

    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        rgb = Image.alpha_composite(background, rgba).convert("RGB")
    else:
        rgb = image.convert("RGB")
    size = fit_pixels(rgb.width, rgb.height, max_pixels)
    if size != rgb.size:
        rgb = rgb.resize(size, Image.Resampling.BICUBIC)
    return rgb


def decode_image(data: bytes, limits: MediaLimits) -> Image.Image:
    """Decode an image file, refusing it before decoding when its header declares more
    than ``limits.max_image_pixels`` pixels; then :func:`prepare_image`.

    Blocking and CPU-heavy: call it in a thread.
    """
    _require()
    from PIL import Image, UnidentifiedImageError

    try:
        # open() reads the header only; the pixels are decoded by load().
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > limits.max_image_pixels:
                raise _too_many_pixels(width, height, limits.max_image_pixels)
            image.load()
            return prepare_image(image, limits.max_pixels)
    except MediaError:
        raise  # ours, from inside the block (a ValueError, like the decoder's own errors)
    except Image.DecompressionBombError as exc:
        # Pillow's own guard (Image.MAX_IMAGE_PIXELS) fires inside open() for huge headers.
        raise MediaTooLargeError(
            f"the image declares too many pixels: {exc}", reason="too_many_pixels"
        ) from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise MediaDecodeError(
            f"the image could not be decoded: {exc}", reason="invalid_media"
        ) from exc


def _too_many_pixels(width: int, height: int, cap: int) -> MediaTooLargeError:
    return MediaTooLargeError(
        f"the image declares {width}x{height} = {width * height} pixels, over the limit of "
        f"{cap} (max_image_pixels); it was not decoded",
        reason="too_many_pixels",
    )


async def load_image(
    source: ImageSource,
    limits: MediaLimits | None = None,
    fetcher: MediaFetcher | None = None,
) -> Image.Image:
    """An RGB Pillow image from a URL, a local path, base64, a data URI, bytes or an image.

    Bombs are refused from the header; images over ``limits.max_pixels`` are resized to fit
    with their aspect ratio. URLs are fetched with ``fetcher`` (or a one-off fetcher with
    ``limits``). Decoding runs in a thread. Raises :class:`~infercore._media.MediaError`,
    or :class:`MediaDependencyError` without Pillow (the ``media`` extra).
    """
    _require()
    from PIL import Image

    limits = limits if limits is not None else MediaLimits()
    if isinstance(source, Image.Image):
        return await asyncio.to_thread(prepare_image, source, limits.max_pixels)
    data = await read_source(source, "image", limits, fetcher)
    return await asyncio.to_thread(decode_image, data, limits)

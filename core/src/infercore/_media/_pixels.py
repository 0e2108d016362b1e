"""Pixel budgets: the size an image or frame is resized to, keeping its aspect ratio."""

from __future__ import annotations

import math

__all__ = ["fit_pixels"]


def fit_pixels(width: int, height: int, max_pixels: int | None) -> tuple[int, int]:
    """The largest size with the aspect ratio of ``width`` × ``height`` and at most
    ``max_pixels`` pixels (each side at least 1); the size itself when it already fits."""
    if max_pixels is None or width * height <= max_pixels:
        return width, height
    scale = math.sqrt(max_pixels / (width * height))
    new_width, new_height = max(1, math.floor(width * scale)), max(1, math.floor(height * scale))
    # Floating point may land one pixel over; step the longer side down until it fits.
    while new_width * new_height > max_pixels and max(new_width, new_height) > 1:
        if new_width >= new_height:
            new_width -= 1
        else:
            new_height -= 1
    return new_width, new_height

"""Every way the parser tests cut a text into streamed pieces."""

from __future__ import annotations

import random
from collections.abc import Iterator

__all__ = ["splits"]


def splits(text: str) -> Iterator[list[str]]:
    """The text one character at a time, in two pieces at every point, and at random."""
    yield list(text)
    for cut in range(len(text) + 1):
        yield [text[:cut], text[cut:]]
    rng = random.Random(7)
    for _ in range(20):
        cuts = sorted(rng.sample(range(1, len(text)), min(6, len(text) - 1)))
        yield [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]

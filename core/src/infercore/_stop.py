"""Stop strings over streamed text."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["StopMatcher"]


class StopMatcher:
    """Finds the first stop string in text that arrives in pieces.

    Text that could still be the start of a stop string is held back until
    the next piece shows whether it is, so a streamed stop string never leaks
    out before it is recognised.
    """

    def __init__(self, stop: Sequence[str]) -> None:
        self._stop = tuple(stop)
        self._hold = max((len(s) for s in self._stop), default=1) - 1
        self._pending = ""
        self.stopped = False

    def feed(self, text: str) -> str:
        """Add text; return what is safe to emit. Sets :attr:`stopped` at a stop string."""
        if self.stopped:
            return ""
        if not self._stop:
            return text
        # Only the pending tail plus the new text can contain a new match.
        window = self._pending + text
        positions = [i for i in (window.find(s) for s in self._stop) if i >= 0]
        if positions:
            self.stopped = True
            self._pending = ""
            return window[: min(positions)]
        keep = self._undecided_suffix(window)
        self._pending = window[len(window) - keep :] if keep else ""
        return window[: len(window) - keep]

    def _undecided_suffix(self, text: str) -> int:
        """The length of the longest tail of ``text`` that begins some stop string."""
        for size in range(min(self._hold, len(text)), 0, -1):
            tail = text[-size:]
            if any(s.startswith(tail) for s in self._stop):
                return size
        return 0

    def flush(self) -> str:
        """Return the held-back text at the end of the sequence."""
        text, self._pending = self._pending, ""
        return text

"""Server-sent events as the OpenAI API streams them: the server's framing, the client's decoder."""

from __future__ import annotations

__all__ = ["SSE_DONE", "SSEDecoder", "sse_event"]

#: The data of the event that ends an OpenAI stream.
SSE_DONE = "[DONE]"


def sse_event(data: bytes) -> bytes:
    """One event carrying ``data`` (a JSON document, which holds no newline)."""
    return b"data: " + data + b"\n\n"


class SSEDecoder:
    """Server-sent events from lines: each event's ``data``, as one string.

    Follows the SSE format far enough for any OpenAI-compatible server:
    ``data:`` lines (one optional space after the colon) accumulate until a
    blank line ends the event; comments (``:``) and ``event:``/``id:``/
    ``retry:`` fields are skipped.
    """

    def __init__(self) -> None:
        self._data: list[str] = []

    def feed(self, line: str) -> str | None:
        """Take one line (with or without its line ending); an event's data when it ends."""
        line = line.rstrip("\r\n")
        if not line:
            return self.flush()
        if line.startswith("data:"):
            value = line[5:]
            self._data.append(value[1:] if value.startswith(" ") else value)
        return None

    def flush(self) -> str | None:
        """The pending event's data, if any: for a stream that ends without a blank line."""
        if not self._data:
            return None
        data = "\n".join(self._data)
        self._data.clear()
        return data

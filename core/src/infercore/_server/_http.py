"""Plain ASGI, for the routes on the hot path: bodies in, JSON and SSE out, disconnects.

The generation routes are ASGI callables rather than framework endpoints:
they need ``receive`` (to notice a client that leaves) and direct ``send``
(to stream), and skipping the request and response objects keeps the
server's own cost per request small.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from starlette.types import Message, Receive, Scope, Send

from infercore._openai import SSE_DONE, APIError, sse_event

__all__ = [
    "CLIENT_GONE",
    "JSON",
    "ClientGone",
    "DisconnectWatch",
    "EventStream",
    "read_body",
    "send_bytes",
    "send_error",
]

JSON = b"application/json"
#: Scope key a route sets when its client disconnected before the response was complete,
#: so that the middleware around it (the guard's metrics) counts the response as cut off.
CLIENT_GONE = "infercore.client_gone"
_DONE = sse_event(SSE_DONE.encode())
_SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),  # proxies must not hold events back
]


class ClientGone(Exception):
    """The client disconnected before the request was complete."""


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The request body; 413 past ``limit`` bytes, whether announced or streamed."""
    for name, value in scope["headers"]:
        if name == b"content-length" and value.isdigit() and int(value) > limit:
            raise APIError.too_large(limit)
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise APIError.too_large(limit)
            chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def send_bytes(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes = JSON,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def send_error(send: Send, error: APIError) -> None:
    await send_bytes(send, error.status, error.body(), headers=error.headers)


class EventStream:
    """A server-sent-event response: ``data: ...`` events, then ``data: [DONE]``."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.started = False

    async def start(self) -> None:
        self.started = True
        await self._send({"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS})

    async def event(self, data: bytes) -> None:
        await self._send({"type": "http.response.body", "body": sse_event(data), "more_body": True})

    async def done(self) -> None:
        await self._send({"type": "http.response.body", "body": _DONE})

    async def fail(self, error: APIError) -> None:
        """End with ``error``: as the response if none began, else as a last event."""
        if not self.started:
            await send_error(self._send, error)
            return
        # The status line is sent already: the error travels as an event, as OpenAI's does.
        await self.event(error.body())
        await self.done()


class DisconnectWatch:
    """Cancels the current task if the client disconnects while the watch is armed.

    Create it once the body is read (it takes over ``receive``) and call
    :meth:`disarm` right after the watched awaits, with no ``await`` in
    between: a disconnect then surfaces only as a ``CancelledError`` inside
    the watched region, and :attr:`gone` says it was the client's doing.
    """

    def __init__(self, receive: Receive) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._task = task
        self._armed = True
        self.gone = False
        self._watcher = asyncio.get_running_loop().create_task(self._watch(receive))

    async def _watch(self, receive: Receive) -> None:
        message: Message = await receive()
        while message["type"] != "http.disconnect":
            message = await receive()
        self.gone = True
        if self._armed:
            self._task.cancel()

    def disarm(self) -> None:
        self._armed = False
        self._watcher.cancel()

    def absorb(self) -> bool:
        """After a ``CancelledError`` in the watched region: was it the client leaving?

        If so the cancellation is taken back and the caller carries on (it
        has nobody to answer); otherwise the caller must re-raise.
        """
        self.disarm()
        if self.gone:
            self._task.uncancel()
            return True
        return False

"""``Connections``: the HTTP clients of one ``InferClient``, one per event loop that uses it."""

from __future__ import annotations

import asyncio
import threading
import weakref
from typing import Any

import httpx

from infercore._errors import EngineError
from infercore._loop import LoopThread

__all__ = ["Connections"]


class Connections:
    """A sync client, and async clients made on first use: one on a private loop thread
    (for the sync calls that stream), one per caller's loop (for the async calls), since
    a pooled connection belongs to the loop that opened it. ``settings`` are httpx's."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self._settings = settings
        self.sync = httpx.Client(**settings)
        self._lock = threading.Lock()
        self._closed = False
        self._loop: LoopThread | None = None
        self._loop_http: httpx.AsyncClient | None = None
        self._loop_clients: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, httpx.AsyncClient
        ] = weakref.WeakKeyDictionary()

    def check_open(self) -> None:
        if self._closed:
            raise EngineError("this client is closed; create a new InferClient")

    def private_loop(self) -> tuple[LoopThread, httpx.AsyncClient]:
        """The private loop thread and its client, started on first use."""
        with self._lock:
            if self._loop is None or self._loop_http is None:
                self._loop = LoopThread("infercore-client")
                self._loop_http = httpx.AsyncClient(**self._settings)
            return self._loop, self._loop_http

    def for_this_loop(self) -> httpx.AsyncClient:
        """The client of the running loop, made on its first call."""
        loop = asyncio.get_running_loop()
        client = self._loop_clients.get(loop)
        if client is None:
            client = self._loop_clients[loop] = httpx.AsyncClient(**self._settings)
        return client

    def close(self) -> None:
        """Close every connection and the private thread. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self.sync.close()
        if self._loop is not None and self._loop_http is not None:
            try:
                self._loop.run(self._loop_http.aclose())
            finally:
                self._loop.stop()
        for loop, client in list(self._loop_clients.items()):
            # A closed loop took its connections with it; a running one closes them itself.
            if loop.is_running():
                asyncio.run_coroutine_threadsafe(client.aclose(), loop)
        self._loop_clients.clear()

    async def aclose(self) -> None:
        """:meth:`close`, awaiting this loop's connections."""
        client = self._loop_clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.aclose()
        self.close()

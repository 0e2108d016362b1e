"""What an engine owns, apart from the engine, so that it is released even when the engine is not.

A script or notebook that never closes its engine still exits cleanly: a
``weakref.finalize`` on the engine holds these resources (never the engine
itself) and releases them when the engine is collected or, at the latest,
when the interpreter exits, before it tears down the threads still inside
the backend.
"""

from __future__ import annotations

from typing import Any

from infercore._backend import Backend
from infercore._loop import LoopThread
from infercore._media import MediaFetcher, MediaLimits

__all__ = ["EngineResources"]


class EngineResources:
    def __init__(self, loop: LoopThread, media_limits: MediaLimits) -> None:
        self.loop = loop
        self.backend: Backend[Any] | None = None
        self._media_limits = media_limits
        self._fetcher: MediaFetcher | None = None

    def fetcher(self) -> MediaFetcher:
        """The media fetcher, made on first use: text-only engines never open one."""
        if self._fetcher is None:
            self._fetcher = MediaFetcher(self._media_limits)
        return self._fetcher

    def release(self) -> None:
        """Close the fetcher and the backend on the loop, then stop the loop. Idempotent."""
        if self.loop.loop.is_closed():
            return
        try:
            self.loop.run(self._aclose())
        finally:
            self.loop.stop()

    async def _aclose(self) -> None:
        try:
            if self._fetcher is not None:
                await self._fetcher.aclose()
        finally:
            if self.backend is not None:
                await self.backend.aclose()

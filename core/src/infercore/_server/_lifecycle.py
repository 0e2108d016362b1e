"""The server's life: serving, then draining (in-flight requests finish, new ones get 503)."""

from __future__ import annotations

import asyncio

__all__ = ["Lifecycle"]


class Lifecycle:
    """Counts the requests in flight and, once draining, says when none is left."""

    def __init__(self) -> None:
        self.draining = False
        self.in_flight = 0
        self._idle = asyncio.Event()

    def enter(self) -> None:
        self.in_flight += 1

    def leave(self) -> None:
        self.in_flight -= 1
        if self.draining and self.in_flight == 0:
            self._idle.set()

    async def drain(self, grace: float) -> bool:
        """Refuse new requests from now on; wait up to ``grace`` s for those in flight.

        Returns whether every request in flight finished in time.
        """
        self.draining = True
        if self.in_flight == 0:
            return True
        try:
            await asyncio.wait_for(self._idle.wait(), grace)
        except TimeoutError:
            return False
        return True

"""Keeps requests for different LoRA adapters from running at the same time."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager

__all__ = ["AdapterGate"]


class AdapterGate:
    """Admits requests of one key at a time, in arrival order.

    Requests with the key that is running join at once, unless a request for
    another key is already waiting: then they queue behind it, so no key
    starves. When the last request of a key leaves, the next key in line runs.
    """

    def __init__(self) -> None:
        self._key: Hashable = None
        self._running = 0
        self._waiting: deque[tuple[Hashable, asyncio.Future[None]]] = deque()

    @asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        if self._running == 0 or (key == self._key and not self._waiting):
            self._key = key
            self._running += 1
        else:
            turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiting.append((key, turn))
            try:
                await turn
            except BaseException:
                # Cancelling the waiting task cancels its turn too, unless the
                # turn was granted just before: then it must give the place back.
                if turn.cancelled():
                    self._waiting.remove((key, turn))
                else:
                    self._leave()
                raise
        try:
            yield
        finally:
            self._leave()

    def _leave(self) -> None:
        self._running -= 1
        if self._running == 0 and self._waiting:
            self._key = self._waiting[0][0]
            # Admit every waiting request of that key, in order, up to the first other key.
            while self._waiting and self._waiting[0][0] == self._key:
                _, turn = self._waiting.popleft()
                self._running += 1
                turn.set_result(None)

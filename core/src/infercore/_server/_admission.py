"""Back-pressure: a fixed number of generation slots and a bounded line for them."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

from infercore._errors import OverCapacityError

__all__ = ["Admission"]


class Admission:
    """``max_running`` requests generate at once; up to ``max_waiting`` more wait in line.

    A request that finds both full is refused at once (the server answers
    429), so the ones it took keep their pace. Slots pass to waiters in
    arrival order. Everything runs on one event loop, so plain counters do.
    """

    def __init__(self, max_running: int, max_waiting: int) -> None:
        self.max_running = max_running
        self.max_waiting = max_waiting
        self.running = 0
        self._waiters: deque[asyncio.Future[None]] = deque()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def acquire(self) -> None:
        """Take a slot, waiting in line for one; :class:`OverCapacityError` if the line is full.

        Every successful ``acquire`` must be paired with one :meth:`release`.
        """
        if self.running < self.max_running and not self._waiters:
            self.running += 1
            return
        if len(self._waiters) >= self.max_waiting:
            raise OverCapacityError(
                f"all {self.max_running} generation slots and {self.max_waiting} queue places "
                "are taken"
            )
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # a slot was handed over just as the waiter gave up: pass it on
            else:
                with contextlib.suppress(ValueError):  # release() may have dropped it already
                    self._waiters.remove(future)
            raise

    def release(self) -> None:
        """Give a slot back: to the first live waiter, else to the pool."""
        while self._waiters:
            future = self._waiters.popleft()
            if not future.done():
                future.set_result(None)  # the slot changes hands; running stays as it is
                return
        self.running -= 1

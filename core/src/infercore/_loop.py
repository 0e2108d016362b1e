"""A private event loop on its own thread, behind the engine's sync and async calls.

The backend lives on this loop. Sync calls block the calling thread on a
future, never on a loop, so they also work where a loop is already running
(Jupyter) without nest_asyncio; async calls from another loop await the
result through a wrapped future.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, TypeVar

from infercore._errors import EngineError

__all__ = ["LoopThread"]

T = TypeVar("T")

_END = object()


def _new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's loop where it is installed (it comes with the ``serve`` extra), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class LoopThread:
    def __init__(self, name: str) -> None:
        self.loop = _new_event_loop()
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()

    def _main(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def _in_loop(self) -> bool:
        return threading.current_thread() is self._thread

    def _check_open(self, coro: Coroutine[Any, Any, Any]) -> None:
        if self.loop.is_closed():
            coro.close()
            raise EngineError("this engine is closed; create a new Engine to run more requests")

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the loop and wait for it in this thread."""
        self._check_open(coro)
        if self._in_loop():
            coro.close()
            raise RuntimeError("a sync engine call was made from the engine's own loop; await it")
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # Ctrl-C in a notebook stops the generation too
            raise

    async def run_async(self, coro: Coroutine[Any, Any, T]) -> T:
        """Await ``coro`` on the loop from whatever loop the caller is on."""
        self._check_open(coro)
        if self._in_loop():
            return await coro
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self.loop))

    def iterate(self, stream: AsyncIterator[T]) -> Iterator[T]:
        """Consume ``stream`` on the loop now; iterate its items from this thread.

        The stream starts at once (so a list of streams is served
        concurrently) and is cancelled when the iterator is closed or dropped.
        """
        items: queue.SimpleQueue[Any] = queue.SimpleQueue()

        async def pump() -> None:
            try:
                async for item in stream:
                    items.put(item)
            except BaseException as exc:
                items.put(exc)
                if not isinstance(exc, Exception):
                    raise
            else:
                items.put(_END)

        task = asyncio.run_coroutine_threadsafe(pump(), self.loop)
        return _SyncStream(items, task)

    async def aiterate(self, stream: AsyncIterator[T]) -> AsyncIterator[T]:
        """Iterate ``stream``, which lives on this loop, from the caller's loop."""
        if self._in_loop():
            async for item in stream:
                yield item
            return
        iterator = aiter(stream)
        # The engine-loop task of a step in progress: cancelling the caller cancels it
        # only later, on the engine loop, so closing must wait for it to end first.
        running: set[asyncio.Task[Any]] = set()
        try:
            while True:
                future = asyncio.run_coroutine_threadsafe(_next(iterator, running), self.loop)
                item = await asyncio.wrap_future(future)
                if item is _END:
                    return
                yield item
        finally:
            closing = asyncio.run_coroutine_threadsafe(_close(iterator, running), self.loop)
            await asyncio.wrap_future(closing)

    def stop(self) -> None:
        if self.loop.is_closed():
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


async def _next(iterator: AsyncIterator[Any], running: set[asyncio.Task[Any]]) -> Any:
    task = asyncio.current_task()
    assert task is not None
    running.add(task)
    try:
        return await anext(iterator)
    except StopAsyncIteration:
        return _END
    finally:
        running.discard(task)


async def _close(iterator: AsyncIterator[Any], running: set[asyncio.Task[Any]]) -> None:
    for task in running:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()


class _SyncStream(Iterator[T]):
    def __init__(self, items: queue.SimpleQueue[Any], task: Any) -> None:
        self._items = items
        self._task = task
        self._done = False

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        item = self._items.get()
        if item is _END:
            self._done = True
            raise StopIteration
        if isinstance(item, BaseException):
            self._done = True
            raise item
        return item  # type: ignore[no-any-return]

    def close(self) -> None:
        """Stop the stream; the backend releases its request."""
        self._done = True
        self._task.cancel()

    def __del__(self) -> None:
        if not self._done:
            self._task.cancel()

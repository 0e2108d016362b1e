"""asyncio helpers the engine and the client share: gather, merge, close."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine, Sequence
from typing import Any, TypeVar

__all__ = ["aclose", "gather", "merge"]

T = TypeVar("T")


async def gather(coros: Sequence[Coroutine[Any, Any, T]]) -> list[T]:
    """Run ``coros`` together; the first error cancels the others and is raised as itself.

    A bare TaskGroup would raise an ExceptionGroup, which callers catching
    :class:`EngineError` or :class:`InvalidRequestError` would miss.
    """
    if len(coros) == 1:  # the common case (n=1) needs no tasks
        return [await coros[0]]
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(coro) for coro in coros]
    except BaseExceptionGroup as errors:
        error: BaseException = errors
        while isinstance(error, BaseExceptionGroup):
            error = error.exceptions[0]
    else:
        return [task.result() for task in tasks]
    raise error


async def aclose(stream: AsyncIterator[Any]) -> None:
    """Close an async generator (or any iterator that can be closed) now, not when collected."""
    close = getattr(stream, "aclose", None)
    if close is not None:
        await close()


async def merge(streams: Sequence[AsyncIterator[T]]) -> AsyncIterator[tuple[int, T]]:
    """Interleave several streams' items as they come, each tagged with its stream's index.

    The first error in any stream is raised and the others are cancelled.
    """
    if len(streams) == 1:
        async for item in streams[0]:
            yield 0, item
        return
    queue: asyncio.Queue[tuple[int, T] | BaseException | None] = asyncio.Queue()

    async def pump(index: int, stream: AsyncIterator[T]) -> None:
        try:
            async for item in stream:
                await queue.put((index, item))
        except Exception as exc:
            await queue.put(exc)
        finally:
            await queue.put(None)

    tasks = [asyncio.create_task(pump(i, s)) for i, s in enumerate(streams)]
    try:
        remaining = len(tasks)
        while remaining:
            entry = await queue.get()
            if entry is None:
                remaining -= 1
            elif isinstance(entry, BaseException):
                raise entry
            else:
                yield entry
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

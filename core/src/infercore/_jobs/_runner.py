"""The loop every job shares: rows to an engine or a server in a bounded window, each
answer written to the result file as it finishes.

A job supplies its rows and one coroutine that answers a row as the line to
write. A row's own fault (a bad shape, a missing image, a prompt over the
context, a backend failure on that request) is its line's ``error``, and the
job goes on; anything else stops the job, and what was written stays for the
next run to resume from.
"""

from __future__ import annotations

import asyncio
from asyncio import FIRST_COMPLETED
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from infercore._coerce import ConfigLike, RequestLike
from infercore._engine import Engine
from infercore._errors import InfercoreError, OverCapacityError
from infercore._jobs._progress import Progress
from infercore._jobs._results import ResultFile
from infercore._loop import LoopThread
from infercore._openai._errors import from_engine_error
from infercore._types import ChatCompletionResponse

__all__ = [
    "Answerer",
    "Line",
    "Tally",
    "answer_with_retries",
    "error_fields",
    "run_job",
    "run_window",
]

T = TypeVar("T")

#: How many times a row is sent again to a server at capacity, and the first pause.
_CAPACITY_RETRIES = 8
_FIRST_PAUSE = 0.5


class Answerer(Protocol):
    """What a job sends its rows to: an :class:`~infercore.Engine` or an
    :class:`~infercore.InferClient`."""

    async def infer_async(
        self, request: RequestLike, config: ConfigLike = None
    ) -> ChatCompletionResponse: ...


@dataclass(frozen=True)
class Line:
    """A row's line for the result file, and what it counts for."""

    record: dict[str, Any]
    failed: bool
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass
class Tally:
    answered: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def count(self, line: Line) -> None:
        if line.failed:
            self.failed += 1
        else:
            self.answered += 1
        self.prompt_tokens += line.prompt_tokens
        self.completion_tokens += line.completion_tokens


def error_fields(exc: InfercoreError) -> dict[str, Any]:
    """An error as the OpenAI API shapes it: type, message, param, code."""
    error = from_engine_error(exc)
    return {"type": error.type, "message": error.message, "param": error.param, "code": error.code}


async def answer_with_retries(
    target: Answerer, request: RequestLike, config: ConfigLike
) -> ChatCompletionResponse:
    """``target``'s answer; a server at capacity is asked again after a growing pause."""
    pause = _FIRST_PAUSE
    for _ in range(_CAPACITY_RETRIES):
        try:
            return await target.infer_async(request, config)
        except OverCapacityError:
            await asyncio.sleep(pause)
            pause *= 2
    return await target.infer_async(request, config)


async def run_window(
    rows: Iterable[T],
    answer: Callable[[T], Awaitable[Line]],
    results: ResultFile,
    *,
    window: int,
    progress: Progress,
) -> Tally:
    """Answer every row, at most ``window`` at once, writing each line as it finishes.

    Reading the rows, answering and writing all happen on the running loop, so
    the result file has one writer.
    """
    tally = Tally()
    running: set[asyncio.Task[Line]] = set()

    def settle(finished: set[asyncio.Task[Line]]) -> None:
        for task in finished:
            line = task.result()
            results.write(line.record)
            tally.count(line)
            progress.advance(failed=line.failed, tokens=line.completion_tokens)

    try:
        for row in rows:
            while len(running) >= window:
                finished, running = await asyncio.wait(running, return_when=FIRST_COMPLETED)
                settle(finished)
            running.add(asyncio.ensure_future(answer(row)))
        while running:
            finished, running = await asyncio.wait(running, return_when=FIRST_COMPLETED)
            settle(finished)
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
    return tally


def run_job(target: Answerer, job: Coroutine[Any, Any, T]) -> T:
    """Run a job's coroutine to its end, so that the sync call works in plain scripts and
    inside a running loop (a notebook) alike.

    With an Engine it runs on the engine's own loop: the rows reach the backend
    together, as one ``Engine.infer`` call's do, instead of one cross-thread hop
    apart, which lets a batching backend start them in full batches.
    """
    if isinstance(target, Engine):
        return target.run_on_loop(job)
    thread = LoopThread("infercore-job")
    try:
        return thread.run(job)
    finally:
        thread.stop()

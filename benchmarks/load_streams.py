"""Streams through the engine's Python API, timed per token as bench serve times them.

A token has arrived when a chunk with content does (the role chunk is not one);
times are taken on this process's loop, where a caller would see them.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from typing import Any

from infercore import ChatCompletionChunk, Engine, RequestConfig

__all__ = ["long_prompt_into_streams", "poisson_ttfts"]


async def _token_times(chunks: AsyncIterator[ChatCompletionChunk]) -> AsyncIterator[float]:
    """The arrival time of each chunk that carries content."""
    async for chunk in chunks:
        if chunk.choices and chunk.choices[0].delta.content:
            yield time.perf_counter()


async def _ttft(engine: Engine, request: dict[str, Any], config: RequestConfig) -> float:
    start = time.perf_counter()
    first = None
    async for arrival in _token_times(await engine.stream_async(request, config)):
        first = arrival if first is None else first
    if first is None:
        raise RuntimeError("a stream carried no content")
    return first - start


async def poisson_ttfts(
    engine: Engine, requests: list[dict[str, Any]], config: RequestConfig, rate: float, seed: int
) -> list[float]:
    """Each request's time to first token, the requests arriving at ``rate`` a second (Poisson)."""
    gaps = random.Random(seed)
    tasks = []
    for request in requests:
        tasks.append(asyncio.create_task(_ttft(engine, request, config)))
        await asyncio.sleep(gaps.expovariate(rate))
    return list(await asyncio.gather(*tasks))


async def long_prompt_into_streams(
    engine: Engine,
    streams: list[dict[str, Any]],
    stream_config: RequestConfig,
    long_request: dict[str, Any],
    long_config: RequestConfig,
) -> tuple[list[list[float]], float]:
    """The gaps between each stream's tokens, and the long prompt's time to first token.

    The long prompt is sent once every stream has its first token, so all of
    them are decoding when its prefill comes.
    """
    running = asyncio.Semaphore(0)

    async def stream(request: dict[str, Any]) -> list[float]:
        gaps: list[float] = []
        last = None
        async for arrival in _token_times(await engine.stream_async(request, stream_config)):
            if last is None:
                running.release()
            else:
                gaps.append(arrival - last)
            last = arrival
        return gaps

    tasks = [asyncio.create_task(stream(request)) for request in streams]
    for _ in streams:
        await running.acquire()
    long_ttft = await _ttft(engine, long_request, long_config)
    return list(await asyncio.gather(*tasks)), long_ttft

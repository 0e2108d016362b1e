"""One sequence through LMDeploy's async engine, in a session of its own."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from typing import Any

from lmdeploy.serve.core import RequestError

from infercore import Delta, EngineError, InvalidRequestError
from infercore_lmdeploy._deltas import DeltaMaker

__all__ = ["stream"]


async def stream(
    engine: Any,
    input_ids: Sequence[int],
    gen_config: Any,
    adapter: str | None,
    deltas: DeltaMaker,
) -> AsyncGenerator[Delta, None]:
    """Generate from ``input_ids`` on ``engine`` (LMDeploy's ``AsyncEngine``), as deltas.

    A sequence that ``deltas`` gathers whole is asked of LMDeploy whole
    (``stream_response=False``): TurboMind then sends nothing before the end.

    However the stream ends (finished, failed, or closed by a caller that stopped
    reading), its session is closed: a request still running in the engine is
    cancelled there and its place freed.
    """
    session = engine.session_mgr.get()
    try:
        try:
            request = await engine.preprocess(
                None,
                session,
                gen_config=gen_config,
                input_ids=list(input_ids),
                adapter_name=adapter,
            )
        except RequestError as exc:
            raise InvalidRequestError(f"LMDeploy refuses the request: {exc.message}") from None
        outputs = engine.generate(request, stream_response=not deltas.whole)
        # Closing LMDeploy's generator (the caller stopped) cancels the request in the engine.
        async with aclosing(outputs):
            async for output in outputs:
                delta = deltas.delta(output)
                if delta is None:
                    continue
                if delta.finish_reason is not None:
                    # LMDeploy's generator tidies the request away after its last output.
                    # Closed at that output instead (a caller stops reading once it has the
                    # finish), it would take the finished request for an abandoned one and
                    # cancel it in the engine: an error logged and a round trip per request.
                    async for extra in outputs:
                        raise EngineError(f"LMDeploy sent an output after the last: {extra}")
                    yield delta
                    return
                # LMDeploy holds the stop token back for its last output, which may leave
                # an output before it with nothing in it.
                if delta.token_ids:
                    yield delta
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            # LMDeploy cancels the request when the task running it is cancelled, and
            # then ends its stream as if nothing happened: the cancellation goes on here.
            raise asyncio.CancelledError
        raise EngineError("LMDeploy ended the stream without a finish reason")
    except RequestError as exc:
        raise EngineError(f"LMDeploy failed the request: {exc.message}") from None
    finally:
        await session.async_close()

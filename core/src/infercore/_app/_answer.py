"""One answer, streamed into the conversation as its text comes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from infercore._aio import aclose
from infercore._app._conversation import Conversation
from infercore._app._figures import AnswerClock
from infercore._app._target import ChatTarget
from infercore._coerce import as_config

__all__ = ["stream_answer"]


async def stream_answer(
    target: ChatTarget,
    conversation: Conversation,
    system: str,
    model: str,
    settings: dict[str, Any],
) -> AsyncIterator[AnswerClock]:
    """Answer the conversation's last turn, adding each piece of text to it.

    Yields the answer's clock once the request is accepted, after every piece, and
    once more, finished, when the engine has counted the answer. Settings the backend
    refuses raise before any text, as :class:`~infercore.InvalidRequestError`. Closing
    the iterator (the page's Stop) closes the stream, which cancels the generation in
    the engine (or the server).
    """
    config = as_config({**settings, "stream": True})
    request = {"messages": conversation.messages(system), "adapter": target.adapter(model)}
    clock = AnswerClock()
    turn = conversation.turns[-1]
    chunks = await target.stream(request, config, clock.stats)
    yield clock  # accepted: the page says it is answering
    try:
        async for chunk in chunks:
            text = "".join(choice.delta.content or "" for choice in chunk.choices)
            if text:
                clock.first()
                turn.answer += text
                yield clock
    finally:
        await aclose(chunks)
    clock.finish()
    yield clock

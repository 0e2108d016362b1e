"""``POST /v1/embeddings``: body (413 past the cap) -> parse (400/422) -> model (404)
-> a slot (429 past the line) -> the engine -> the OpenAI embeddings response.

Served by every server; an engine not loaded with ``task="embed"`` answers a 400
that says how to start one that is, as a chat request to an embedding engine does.
"""

from __future__ import annotations

import time

from pydantic_core import to_json
from starlette.types import Receive, Scope, Send

from infercore._openai import APIError, EmbeddingRequest
from infercore._server._http import CLIENT_GONE, ClientGone, read_body, send_bytes, send_error
from infercore._server._routes import as_api_error
from infercore._server._state import ServerState
from infercore._types import Usage

__all__ = ["EmbeddingsRoute"]


class EmbeddingsRoute:
    def __init__(self, state: ServerState) -> None:
        self._state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = self._state
        started = time.perf_counter()
        try:
            raw = await read_body(scope, receive, state.settings.max_body_bytes)
            body = EmbeddingRequest.parse(raw)
            served = state.models.get(body.model)
            if served.adapter is not None:
                raise APIError.bad_request(
                    f"{body.model!r} is a LoRA adapter; embeddings come from the base model",
                    "model",
                )
            await state.admission.acquire()
            try:
                response = await state.engine.embed_async(body.input, body.engine_config())
            finally:
                state.admission.release()
        except ClientGone:
            scope[CLIENT_GONE] = True
            return
        except Exception as exc:
            await send_error(send, as_api_error(exc, state.settings.retry_after))
            return
        tokens = response.usage.prompt_tokens
        state.metrics.count_usage(
            Usage(prompt_tokens=tokens, completion_tokens=0, total_tokens=tokens)
        )
        state.metrics.e2e.observe(time.perf_counter() - started)
        response.model = served.id
        await send_bytes(send, 200, to_json(response))

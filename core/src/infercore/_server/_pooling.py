"""The pooling routes' one path: body (413 past the cap) -> parse (400/422) -> model (404;
an adapter's name is a 400) -> a slot (429 past the line) -> the engine -> JSON.

Served by every server; an engine loaded for another task answers a 400 naming
``model`` that says how to start one that is (the engine's own refusal).
"""

from __future__ import annotations

import abc
import time
from typing import Generic, Protocol, TypeVar

from pydantic import BaseModel
from pydantic_core import to_json
from starlette.types import Receive, Scope, Send

from infercore._openai import APIError
from infercore._server._http import CLIENT_GONE, ClientGone, read_body, send_bytes, send_error
from infercore._server._routes import as_api_error
from infercore._server._state import ServerState
from infercore._types import Usage

__all__ = ["PoolingRoute"]


class _Body(Protocol):
    model: str


BodyT = TypeVar("BodyT", bound=_Body)


class PoolingRoute(abc.ABC, Generic[BodyT]):
    """One ``POST`` route of a pooling call: a subclass parses its body and asks the engine."""

    #: What the route answers, for the refusal of an adapter's name.
    what: str

    def __init__(self, state: ServerState) -> None:
        self._state = state

    @abc.abstractmethod
    def parse(self, raw: bytes) -> BodyT:
        """The body, validated; an :class:`APIError` naming the field."""

    @abc.abstractmethod
    async def answer(self, body: BodyT) -> tuple[BaseModel, int]:
        """The engine's response and its prompt tokens; the route names the served model
        in the response's ``model``."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = self._state
        started = time.perf_counter()
        try:
            raw = await read_body(scope, receive, state.settings.max_body_bytes)
            body = self.parse(raw)
            served = state.models.get(body.model)
            if served.adapter is not None:
                raise APIError.bad_request(
                    f"{served.id!r} is a LoRA adapter; {self.what} come from the base model",
                    "model",
                )
            await state.admission.acquire()
            try:
                response, tokens = await self.answer(body)
            finally:
                state.admission.release()
        except ClientGone:
            scope[CLIENT_GONE] = True
            return
        except Exception as exc:
            await send_error(send, as_api_error(exc, state.settings.retry_after))
            return
        state.metrics.count_usage(
            Usage(prompt_tokens=tokens, completion_tokens=0, total_tokens=tokens)
        )
        state.metrics.e2e.observe(time.perf_counter() - started)
        await send_bytes(send, 200, to_json(response.model_copy(update={"model": served.id})))

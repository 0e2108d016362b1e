"""The routes, as ASGI callables: generation (chat and completions), models, health, metrics.

A generation request goes: body (413 past the cap) -> one pydantic parse
(400 not JSON or an unknown field, 422 invalid) -> refusal of what cannot be
honoured (400) -> model lookup (404) -> a generation slot (429 past the line)
-> the engine, on this same event loop -> a JSON body or an SSE stream. From
the slot on, a client that disconnects cancels its generation.
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Callable
from typing import ClassVar

from pydantic_core import to_json
from starlette.types import Receive, Scope, Send

from infercore._errors import InfercoreError
from infercore._openai import (
    APIError,
    ChatCompletionRequest,
    CompletionRequest,
    CompletionStream,
    GenerationBody,
    completion_from_chat,
    from_engine_error,
)
from infercore._server._http import (
    CLIENT_GONE,
    ClientGone,
    DisconnectWatch,
    EventStream,
    read_body,
    send_bytes,
    send_error,
)
from infercore._server._metrics import CONTENT_TYPE
from infercore._server._models import ServedModel
from infercore._server._state import ServerState
from infercore._types import (
    ChatCompletionChunk,
    ChatCompletionResponse,
    RequestConfig,
)

__all__ = [
    "ChatRoute",
    "CompletionRoute",
    "HealthRoute",
    "MetricsRoute",
    "ModelsRoute",
    "as_api_error",
]

logger = logging.getLogger("infercore.server")

#: What one engine chunk becomes on the wire; ``None``: nothing to send.
ChunkShaper = Callable[[ChatCompletionChunk], bytes | None]


def as_api_error(exc: Exception, retry_after: int) -> APIError:
    """Any failure of a route's request as the error to answer with."""
    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, InfercoreError):
        return from_engine_error(exc, retry_after=retry_after)
    # A bug, or a backend failing outside the engine's wrapping: this request
    # alone fails, and the traceback goes to the log.
    logger.exception("a request failed")
    return APIError.internal(f"internal error: {type(exc).__name__}: {exc}")


class _GenerationRoute(ABC):
    """``POST`` a body, get a response or, with ``stream``, server-sent events."""

    body_model: ClassVar[type[GenerationBody]]

    def __init__(self, state: ServerState) -> None:
        self._state = state

    # -- what differs between chat and completions ----------------------------

    @abstractmethod
    def _response(self, response: ChatCompletionResponse, model: str) -> bytes: ...

    @abstractmethod
    def _chunk_shaper(self, model: str) -> ChunkShaper: ...

    # -- the request ----------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        try:
            body = self._parse(await read_body(scope, receive, self._max_body))
            served = self._state.models.get(body.model)
        except ClientGone:
            scope[CLIENT_GONE] = True
            return
        except APIError as error:
            await send_error(send, error)
            return
        # The response: an event stream, or (for a JSON answer) the same errors.
        events = EventStream(send)
        watch = DisconnectWatch(receive)
        try:
            if body.stream:
                await self._stream(body, served, events, started)
            else:
                payload = await self._answer(body, served, started)
        except asyncio.CancelledError:
            if watch.absorb():
                # The client left: its generation is cancelled, and a stream stays cut off.
                scope[CLIENT_GONE] = True
                return
            if not self._state.lifecycle.draining:
                raise
            # The shutdown grace ran out and the server cancels what is left: say so
            # rather than drop the connection (the task ends here either way).
            task = asyncio.current_task()
            assert task is not None
            task.uncancel()
            await events.fail(APIError.shutting_down(finished=False))
            return
        except Exception as exc:
            watch.disarm()
            await events.fail(as_api_error(exc, self._state.settings.retry_after))
            return
        watch.disarm()
        if not body.stream:
            await send_bytes(send, 200, payload)

    @property
    def _max_body(self) -> int:
        return self._state.settings.max_body_bytes

    def _parse(self, raw: bytes) -> GenerationBody:
        return self.body_model.parse(raw)

    def _config(self, body: GenerationBody) -> RequestConfig:
        config = body.engine_config(self._state.defaults)
        if config.max_tokens is None:
            config.max_tokens = body.default_max_tokens
        return config

    async def _start(
        self, body: GenerationBody, served: ServedModel
    ) -> ChatCompletionResponse | AsyncIterator[ChatCompletionChunk]:
        """The engine's answer, or its stream; request errors are raised here, before any chunk."""
        request = body.infer_request(served.adapter)
        config = self._config(body)
        engine = self._state.engine

        async def answer(
            config: RequestConfig,
        ) -> ChatCompletionResponse | AsyncIterator[ChatCompletionChunk]:
            if config.stream:
                return await engine.stream_async(request, config)
            return await engine.infer_async(request, config)

        return await body.within_context(config, answer)

    async def _answer(self, body: GenerationBody, served: ServedModel, started: float) -> bytes:
        state = self._state
        await state.admission.acquire()
        try:
            response = await self._start(body, served)
        finally:
            state.admission.release()
        assert isinstance(response, ChatCompletionResponse)
        state.metrics.count_usage(response.usage)
        state.metrics.e2e.observe(time.perf_counter() - started)
        return self._response(response, served.id)

    async def _stream(
        self, body: GenerationBody, served: ServedModel, events: EventStream, started: float
    ) -> None:
        state = self._state
        await state.admission.acquire()
        try:
            stream = await self._start(body, served)
            assert not isinstance(stream, ChatCompletionResponse)
            try:
                await self._send_events(stream, body, served.id, events, started)
            finally:
                # Ended early (an error, a client gone): the generation stops now, not at GC.
                aclose = getattr(stream, "aclose", None)
                if aclose is not None:
                    await aclose()
        finally:
            state.admission.release()

    async def _send_events(
        self,
        stream: AsyncIterator[ChatCompletionChunk],
        body: GenerationBody,
        model: str,
        events: EventStream,
        started: float,
    ) -> None:
        metrics = self._state.metrics
        shape = self._chunk_shaper(model)
        wants_usage = body.stream_options is not None and body.stream_options.include_usage
        first_token = True
        await events.start()
        try:
            async for chunk in stream:
                if chunk.usage is not None:
                    metrics.count_usage(chunk.usage)
                    if not wants_usage:
                        continue  # the engine was asked for usage for the metrics' sake
                elif first_token and chunk.choices and chunk.choices[0].delta.role is None:
                    first_token = False
                    metrics.ttft.observe(time.perf_counter() - started)
                data = shape(chunk)
                if data is not None:
                    await events.event(data)
        except Exception as exc:
            await events.fail(as_api_error(exc, self._state.settings.retry_after))
            return
        metrics.e2e.observe(time.perf_counter() - started)
        await events.done()


class ChatRoute(_GenerationRoute):
    """``POST /v1/chat/completions``."""

    body_model = ChatCompletionRequest

    def _response(self, response: ChatCompletionResponse, model: str) -> bytes:
        response.model = model
        return to_json(response)

    def _chunk_shaper(self, model: str) -> ChunkShaper:
        def shape(chunk: ChatCompletionChunk) -> bytes:
            chunk.model = model
            return to_json(chunk)

        return shape


class CompletionRoute(_GenerationRoute):
    """``POST /v1/completions``: a raw prompt, answered in the ``text_completion`` shape."""

    body_model = CompletionRequest

    def _response(self, response: ChatCompletionResponse, model: str) -> bytes:
        return to_json(completion_from_chat(response, model))

    def _chunk_shaper(self, model: str) -> ChunkShaper:
        converter = CompletionStream(model)

        def shape(chunk: ChatCompletionChunk) -> bytes | None:
            completion = converter.convert(chunk)
            return None if completion is None else to_json(completion)

        return shape


class ModelsRoute:
    """``GET /v1/models`` and ``GET /v1/models/{model}``."""

    def __init__(self, state: ServerState) -> None:
        self._models = state.models

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        name = scope.get("path_params", {}).get("model")
        try:
            payload = self._models.listing() if name is None else self._models.card(name)
        except APIError as error:
            await send_error(send, error)
            return
        await send_bytes(send, 200, payload)


class HealthRoute:
    """``GET /health``: 200 while serving, 503 once draining. Needs no key."""

    def __init__(self, state: ServerState) -> None:
        self._lifecycle = state.lifecycle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._lifecycle.draining:
            await send_error(send, APIError.shutting_down())
        else:
            await send_bytes(send, 200, b'{"status":"ok"}')


class MetricsRoute:
    """``GET /metrics``, in the Prometheus text format."""

    def __init__(self, state: ServerState) -> None:
        self._metrics = state.metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send_bytes(send, 200, self._metrics.render(), CONTENT_TYPE)

"""``InferClient``: the ``Engine`` API over HTTP, against any OpenAI-compatible server."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, wait
from types import TracebackType
from typing import Any, Self

import httpx

from infercore._aio import gather
from infercore._client_pooling import PoolingClientCalls
from infercore._coerce import (
    ConfigLike,
    RequestLike,
    as_config,
    as_request,
    as_requests,
    for_whole_responses,
)
from infercore._connections import Connections
from infercore._errors import EngineError
from infercore._openai import (
    SSE_DONE,
    SSEDecoder,
    WireCall,
    api_root,
    error_from_event,
    first_model,
    model_ids,
    parse_chunk,
    parse_response,
    wire_call,
)
from infercore._stats import InferStats
from infercore._types import (
    ChatCompletionChunk,
    ChatCompletionResponse,
    InferRequest,
    RequestConfig,
    Usage,
)

__all__ = ["InferClient"]


class InferClient(PoolingClientCalls):
    """A served model, with the same API and types as ``Engine``: ``infer``, ``stream``,
    ``infer_async``, ``stream_async``; ``embed``, ``classify``, ``score``, ``rerank``
    and their async forms.

    ``InferClient("http://127.0.0.1:8000/v1", api_key="...")`` or
    ``InferClient(port=8000)``; a base URL without ``/v1`` gets it appended.
    ``model`` names the served model to ask; by default the first one that
    ``GET /v1/models`` lists. Chat requests go to ``/v1/chat/completions``;
    raw prompts (``InferRequest(prompt=...)``) go to ``/v1/completions`` and
    come back in the chat shapes, as ``Engine`` returns them.

    Sync calls run on a private event-loop thread (so they work inside a
    running loop, such as Jupyter's); the async calls run on the caller's
    loop. Connections are pooled and kept alive, at most ``max_connections``
    at once (requests beyond wait for one; a stream holds its connection
    until it is read to the end or closed).
    ``timeout`` bounds each wait for the server (None: no bound).

    Server errors become infercore's typed errors: 400/413/422
    ``InvalidRequestError`` (with ``param``), 401 ``AuthenticationError``,
    404 ``ModelNotFoundError``, 429 ``OverCapacityError``, 5xx and
    unreachable servers ``EngineError``.
    """

    backend_name = "remote"

    def __init__(
        self,
        base_url: str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 8000,
        api_key: str | None = None,
        model: str | None = None,
        timeout: float | None = 600.0,
        max_connections: int = 100,
    ) -> None:
        self.base_url = api_root(base_url or f"http://{host}:{port}")
        self._model = model
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        connect = 10.0 if timeout is None else min(timeout, 10.0)
        settings: dict[str, Any] = {
            "base_url": self.base_url,
            "headers": headers,
            # pool=None: a request waits for a free connection as long as it takes,
            # so a list bigger than the pool queues instead of timing out.
            "timeout": httpx.Timeout(timeout, connect=connect, pool=None),
            "limits": httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
        }
        self._connections = Connections(settings)

    # -- public API ---------------------------------------------------------

    @property
    def models(self) -> list[str]:
        """The ids of the served models (``GET /v1/models``)."""
        self._connections.check_open()
        try:
            response = self._connections.sync.get("/models")
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        return model_ids(self._checked(response.status_code, response.text, response.headers))

    @property
    def model(self) -> str:
        """The model that requests name: the one given, else the first served one."""
        if self._model is None:
            self._model = first_model(self.models, self.base_url)
        return self._model

    def infer(
        self,
        requests: Sequence[RequestLike],
        config: ConfigLike = None,
        *,
        stats: InferStats | None = None,
    ) -> list[ChatCompletionResponse]:
        """Answer every request, sent concurrently, in their order; as :meth:`Engine.infer`.

        ``stats`` counts every response.
        """
        parsed = as_requests(requests)
        cfg = for_whole_responses(as_config(config), "InferClient.infer")
        calls = self._calls(parsed, cfg, stats)
        if not calls:
            return []
        loop, http = self._connections.private_loop()
        return loop.run(gather([self._complete(http, call, stats) for call in calls]))

    def stream(
        self,
        requests: Sequence[RequestLike],
        config: ConfigLike = None,
        *,
        stats: InferStats | None = None,
    ) -> list[Iterator[ChatCompletionChunk]]:
        """One iterator of chunks per request, sent concurrently; as :meth:`Engine.stream`.

        Every stream is open (its HTTP status checked, so request errors raise
        here) before this returns, and read into its iterator from then on.
        ``stats`` counts each response when its stream ends (from the server's
        usage chunk, which is requested for it).
        """
        parsed = as_requests(requests)
        calls = self._calls(parsed, _streaming(as_config(config)), stats)
        if not calls:
            return []
        loop, http = self._connections.private_loop()
        # Every stream is read as soon as it opens, so that streams beyond the
        # connection pool get a connection when earlier ones end; the gates
        # say when each is open (or failed), so request errors raise here.
        gates = [Future[None]() for _ in calls]
        streams = [
            loop.iterate(self._stream(http, call, stats, gate))
            for call, gate in zip(calls, gates, strict=True)
        ]
        wait(gates, return_when=FIRST_EXCEPTION)
        failed = next((gate for gate in gates if gate.done() and gate.exception()), None)
        if failed is not None:
            for stream in streams:
                stream.close()  # type: ignore[attr-defined]
            failed.result()
        return streams

    async def infer_async(
        self,
        request: RequestLike,
        config: ConfigLike = None,
        *,
        stats: InferStats | None = None,
    ) -> ChatCompletionResponse:
        """Answer one request, on the caller's event loop."""
        cfg = for_whole_responses(as_config(config), "InferClient.infer_async")
        http, call = await self._call_async(as_request(request), cfg, stats)
        return await self._complete(http, call, stats)

    async def stream_async(
        self,
        request: RequestLike,
        config: ConfigLike = None,
        *,
        stats: InferStats | None = None,
    ) -> AsyncIterator[ChatCompletionChunk]:
        """Chunks of one request's answer, on the caller's event loop.

        Awaiting it opens the stream, so request errors (the HTTP status) raise
        here, before any chunk.
        """
        http, call = await self._call_async(
            as_request(request), _streaming(as_config(config)), stats
        )
        return self._chunks(await self._open(http, call), call, stats)

    def close(self) -> None:
        """Close every connection and the private thread. Idempotent."""
        self._connections.close()

    async def aclose(self) -> None:
        """:meth:`close`, awaiting this loop's connections."""
        await self._connections.aclose()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- connections --------------------------------------------------------

    def _calls(
        self, requests: list[InferRequest], config: RequestConfig, stats: InferStats | None
    ) -> list[WireCall]:
        self._connections.check_open()
        if not requests:
            return []
        model = self.model
        return [wire_call(r, config, model, want_usage=stats is not None) for r in requests]

    async def _call_async(
        self, request: InferRequest, config: RequestConfig, stats: InferStats | None
    ) -> tuple[httpx.AsyncClient, WireCall]:
        self._connections.check_open()
        http = self._connections.for_this_loop()
        if self._model is None:
            self._model = first_model(await self._amodels(http), self.base_url)
        return http, wire_call(request, config, self._model, want_usage=stats is not None)

    # -- calls --------------------------------------------------------------

    async def _complete(
        self, http: httpx.AsyncClient, call: WireCall, stats: InferStats | None
    ) -> ChatCompletionResponse:
        try:
            response = await http.post(call.path, json=call.body)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        payload = self._checked(response.status_code, response.text, response.headers)
        result = parse_response(call, payload)
        if stats is not None:
            stats.add(result.usage, len(result.choices))
        return result

    async def _open(self, http: httpx.AsyncClient, call: WireCall) -> httpx.Response:
        """Send a streamed call and check its status; the open response."""
        request = http.build_request("POST", call.path, json=call.body)
        try:
            response = await http.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        if response.status_code >= 400:
            try:
                text = (await response.aread()).decode(errors="replace")
            finally:
                await response.aclose()
            self._checked(response.status_code, text, response.headers)
        return response

    async def _stream(
        self, http: httpx.AsyncClient, call: WireCall, stats: InferStats | None, gate: Future[None]
    ) -> AsyncIterator[ChatCompletionChunk]:
        """Open a stream, settle ``gate`` with the outcome, then its chunks."""
        try:
            response = await self._open(http, call)
        except BaseException as exc:
            gate.set_exception(exc)
            raise
        gate.set_result(None)
        chunks = self._chunks(response, call, stats)
        try:
            async for chunk in chunks:
                yield chunk
        finally:
            await chunks.aclose()

    async def _chunks(
        self, response: httpx.Response, call: WireCall, stats: InferStats | None
    ) -> AsyncGenerator[ChatCompletionChunk, None]:
        """The chunks of an open stream; closing the iterator closes the connection's stream."""
        decoder = SSEDecoder()
        usage: Usage | None = None
        content_chunks = 0
        try:
            async for line in response.aiter_lines():
                data = decoder.feed(line)
                if data is None:
                    continue
                if data == SSE_DONE:
                    break
                try:
                    payload = json.loads(data)
                except ValueError as exc:
                    raise EngineError(f"the server sent an event that is not JSON: {exc}") from exc
                if isinstance(payload, dict) and "error" in payload:
                    raise error_from_event(payload, url=self.base_url)
                chunk = parse_chunk(call, payload)
                if chunk.usage is not None:
                    usage = chunk.usage
                    if not call.user_wants_usage and not chunk.choices:
                        continue  # asked for only to count stats
                content_chunks += sum(1 for choice in chunk.choices if choice.delta.content)
                yield chunk
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        finally:
            await response.aclose()
        if stats is not None:
            # A server without stream_options support sends no usage: count the
            # content chunks as tokens (a lower bound) and no prompt tokens.
            counted = Usage(
                prompt_tokens=0, completion_tokens=content_chunks, total_tokens=content_chunks
            )
            stats.add(usage or counted, call.choices)


def _streaming(config: RequestConfig) -> RequestConfig:
    return config if config.stream else config.model_copy(update={"stream": True})

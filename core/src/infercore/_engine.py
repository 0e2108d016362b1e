"""The engine: one backend behind a sync and async, whole and streaming API.

A facade: requests are prepared by :mod:`infercore._prepare`, answered by
:mod:`infercore._respond`, on the event loop of :mod:`infercore._loop`.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import AsyncIterator, Coroutine, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from pydantic import ValidationError

from infercore._aio import gather
from infercore._backend import Backend, BackendOptions, Capabilities
from infercore._coerce import (
    ConfigLike,
    RequestLike,
    as_config,
    as_request,
    as_requests,
    for_whole_responses,
    invalid_request,
)
from infercore._embed import Embedder
from infercore._engine_pooling import PoolingCalls
from infercore._errors import InvalidRequestError
from infercore._loop import LoopThread
from infercore._media import MediaLimits
from infercore._parser_names import ParserNames
from infercore._plugins import PluginManager, get_plugin_manager
from infercore._prepare import Job, Preparer
from infercore._resources import EngineResources
from infercore._respond import Responder
from infercore._score import Scorer, classifier_head_for
from infercore._stats import InferStats
from infercore._types import (
    ChatCompletionChunk,
    ChatCompletionResponse,
    InferRequest,
    RequestConfig,
)

__all__ = ["Engine", "infer"]

T = TypeVar("T")


class Engine(PoolingCalls):
    """A model served by one backend.

    ``Engine("smollm2-135m-instruct", backend="pt", max_batch_size=16)`` loads
    the model; keyword options are the backend's typed options, ``task`` among
    them: ``task="embed"`` loads an embedding model for :meth:`embed`,
    ``task="classify"`` a sequence-classification (or reward) model for
    :meth:`classify`, ``task="score"`` a cross-encoder for :meth:`score` and
    :meth:`rerank` (each on a backend whose capabilities list it) instead of one
    that generates. ``adapters``
    maps names to LoRA adapter paths, loaded at once and chosen per request
    with ``InferRequest.adapter``. ``media`` bounds and places the images,
    videos and audios that requests may load (by default a trusted caller's
    limits: local files and private addresses allowed). ``tool_call_parser`` names the
    tool-call format to parse from the model's text (``hermes``, ``llama3_json``,
    ``mistral``, a plugin's, or ``auto``: the one the chat template shows); without one,
    requests that offer tools are refused. ``reasoning_parser`` (``qwen3``,
    ``deepseek_r1``, ``auto``) separates the model's thinking into ``reasoning``. ``plugins`` is the
    plugin manager to find the backend and model aliases in (by default the
    process's, over every installed plugin). The backend runs on a private
    event-loop thread, so the sync calls work from plain scripts and from
    inside a running loop (a notebook) alike.
    """

    def __init__(
        self,
        model: str,
        backend: str = "auto",
        *,
        adapters: Mapping[str, str] | None = None,
        media: MediaLimits | None = None,
        tool_call_parser: str | None = None,
        reasoning_parser: str | None = None,
        plugins: PluginManager | None = None,
        **options: Any,
    ) -> None:
        registry = (plugins if plugins is not None else get_plugin_manager()).registry
        entry = registry.choose(backend)
        parsers = ParserNames(registry, tool_call_parser, reasoning_parser)
        if adapters and not entry.spec.capabilities.lora:
            raise InvalidRequestError(
                f"backend {entry.spec.name!r} does not support LoRA adapters", param="adapters"
            )
        try:
            backend_options = entry.spec.options(**options)
        except ValidationError as exc:
            raise invalid_request(exc, f"options for backend {entry.spec.name!r}") from exc
        if backend_options.task not in entry.spec.capabilities.tasks:
            raise InvalidRequestError(
                f"backend {entry.spec.name!r} does not support the task "
                f"{backend_options.task!r}; its tasks: "
                f"{', '.join(sorted(entry.spec.capabilities.tasks))}",
                param="task",
            )
        backend_class = entry.load()
        model_path = registry.resolve_model(model)
        self.model = model
        self.backend_name = entry.spec.name
        self.capabilities: Capabilities = entry.spec.capabilities
        self.task = backend_options.task
        self.adapters: dict[str, str] = dict(adapters or {})
        # The Python API is a trusted caller: local files and private
        # addresses are open to it; a server passes its own, safe limits.
        self.media_limits = (
            media
            if media is not None
            else MediaLimits.from_env(
                allowed_local_media_path=Path(os.path.abspath(os.sep)), allow_private_addresses=True
            )
        )
        self._loop = LoopThread(f"infercore-{entry.spec.name}")
        self._resources = EngineResources(self._loop, self.media_limits)
        self._finalizer = weakref.finalize(self, self._resources.release)
        try:
            self._backend = self._loop.run(
                _construct(backend_class, model_path, backend_options, self.adapters)
            )
        except BaseException:
            self._finalizer()
            raise
        self._resources.backend = self._backend
        template = getattr(self._backend.tokenizer, "chat_template", None)
        try:
            #: The parsers' names ("auto" settled), or None.
            self.tool_call_parser, tools = parsers.tool_parser(template)
            self.reasoning_parser, reasoning = parsers.reasoning_parser(template)
            head = classifier_head_for(model, self._backend, self.task)
        except BaseException:
            self._finalizer()
            raise
        self._preparer = Preparer(
            model=model,
            backend=self._backend,
            backend_name=self.backend_name,
            capabilities=self.capabilities,
            adapters=self.adapters,
            media_limits=self.media_limits,
            fetcher=self._resources.fetcher,
            task=self.task,
            tool_parser=tools,
            reasoning_parser=reasoning,
        )
        self._responder = Responder(model, self._backend, self.backend_name)
        self._embedder = Embedder(model, self._backend, self.backend_name, self.task)
        self._scorer = Scorer(model, self._backend, self.backend_name, self.task, head)

    @property
    def backend(self) -> Backend[Any]:
        return self._backend

    # -- many requests, from sync code -------------------------------------------

    def infer(
        self,
        requests: Sequence[RequestLike],
        config: ConfigLike = None,
        *,
        stats: InferStats | None = None,
    ) -> list[ChatCompletionResponse]:
        """Answer every request, concurrently (the backend batches them), in their order.

        Every request is checked before any is generated: a fault in one raises
        here and nothing runs. ``stats`` counts every response.
        """
        jobs = self._prepare_all(
            as_requests(requests), for_whole_responses(as_config(config), "Engine.infer"), stats
        )
        return self._loop.run(gather([self._responder.complete(job) for job in jobs]))

    def stream(
        self,
        requests: Sequence[RequestLike],
        config: ConfigLike = None,
        *,
        stats: InferStats | None = None,
    ) -> list[Iterator[ChatCompletionChunk]]:
        """One iterator of chunks per request; every stream starts at once.

        Every request is checked before any stream starts. An iterator closed
        (or dropped) early releases its request. ``stats`` counts each response
        when its stream ends.
        """
        jobs = self._prepare_all(as_requests(requests), as_config(config), stats)
        return [self._loop.iterate(self._responder.stream(job)) for job in jobs]

    def infer_iter(
        self,
        requests: Sequence[RequestLike],
        config: ConfigLike = None,
        *,
        stats: InferStats | None = None,
    ) -> Iterator[tuple[int, ChatCompletionResponse]]:
        """``(index, response)`` for each request as soon as it is answered.

        Every request is checked before any is generated, and all are generated
        concurrently, as with :meth:`infer`; the first failure raises and stops
        the rest, and so does closing the iterator early.
        """
        jobs = self._prepare_all(
            as_requests(requests),
            for_whole_responses(as_config(config), "Engine.infer_iter"),
            stats,
        )
        return self._loop.iterate(self._as_completed(jobs))

    # -- one request, from async code ----------------------------------------------

    async def infer_async(
        self,
        request: RequestLike,
        config: ConfigLike = None,
        *,
        stats: InferStats | None = None,
    ) -> ChatCompletionResponse:
        """Answer one request, on the caller's event loop."""
        cfg = for_whole_responses(as_config(config), "Engine.infer_async")
        job = await self._loop.run_async(self._preparer.prepare(as_request(request), cfg, stats))
        return await self._loop.run_async(self._responder.complete(job))

    async def stream_async(
        self,
        request: RequestLike,
        config: ConfigLike = None,
        *,
        stats: InferStats | None = None,
    ) -> AsyncIterator[ChatCompletionChunk]:
        """Chunks of one request's answer: ``async for chunk in await engine.stream_async(...)``.

        Awaiting it checks and prepares the request, so its faults raise here,
        before any chunk (a server can still answer them with a 400).
        """
        prepare = self._preparer.prepare(as_request(request), as_config(config), stats)
        job = await self._loop.run_async(prepare)
        return self._loop.aiterate(self._responder.stream(job))

    # -- the loop and the lifecycle -------------------------------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the backend runs on, on the engine's own thread."""
        return self._loop.loop

    def run_on_loop(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the engine's loop and wait for it (a server that calls the
        engine directly, for one, runs there)."""
        return self._loop.run(coro)

    def close(self) -> None:
        """Release the backend and the engine's thread. Idempotent.

        An engine never closed is released when it is collected, or at exit.
        """
        self._finalizer()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _prepare_all(
        self, requests: list[InferRequest], config: RequestConfig, stats: InferStats | None
    ) -> list[Job]:
        async def prepare_all() -> list[Job]:
            return [await self._preparer.prepare(r, config, stats) for r in requests]

        return self._loop.run(prepare_all())

    async def _as_completed(
        self, jobs: list[Job]
    ) -> AsyncIterator[tuple[int, ChatCompletionResponse]]:
        async def answer(index: int, job: Job) -> tuple[int, ChatCompletionResponse]:
            return index, await self._responder.complete(job)

        tasks = [asyncio.ensure_future(answer(i, job)) for i, job in enumerate(jobs)]
        try:
            for finished in asyncio.as_completed(tasks):
                yield await finished
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def _construct(
    backend_class: type[Backend[Any]],
    model: str,
    options: BackendOptions,
    adapters: dict[str, str],
) -> Backend[Any]:
    # Constructed on the engine's loop: some engines bind to the loop they start on.
    backend = backend_class(model, options)
    try:
        for name, path in adapters.items():
            await backend.load_adapter(name, path)
    except BaseException:
        await backend.aclose()
        raise
    return backend


def infer(
    model: str,
    requests: Sequence[RequestLike],
    config: ConfigLike = None,
    *,
    backend: str = "auto",
    stats: InferStats | None = None,
    **options: Any,
) -> list[ChatCompletionResponse]:
    """Load ``model``, answer ``requests`` and release the model, in one call."""
    cfg = for_whole_responses(as_config(config), "Engine.infer")
    with Engine(model, backend=backend, **options) as engine:
        return engine.infer(requests, cfg, stats=stats)

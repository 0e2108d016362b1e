"""The engine: one backend behind a sync and async, streaming and non-streaming API."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
import weakref
from collections.abc import AsyncIterator, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from pydantic import ValidationError

from infercore._backend import (
    SAMPLING_FIELDS,
    Backend,
    BackendOptions,
    Delta,
    PreparedRequest,
    SamplingParams,
)
from infercore._chat import render_prompt
from infercore._errors import EngineError, InfercoreError, InvalidRequestError
from infercore._loop import LoopThread
from infercore._media import MediaLimits, load_audio, load_image, load_video
from infercore._multimodal import MediaPlan, plan_media
from infercore._plugins import get_plugin_manager
from infercore._resources import EngineResources
from infercore._stats import InferStats
from infercore._stop import StopMatcher
from infercore._types import (
    AssistantMessage,
    ChatCompletionChunk,
    ChatCompletionResponse,
    Choice,
    ChoiceLogprobs,
    ChunkChoice,
    DeltaMessage,
    FinishReason,
    InferRequest,
    RequestConfig,
    TokenLogprob,
    TopLogprob,
    Usage,
)

__all__ = ["Engine", "infer"]

T = TypeVar("T")

RequestLike = InferRequest | Mapping[str, Any]
ConfigLike = RequestConfig | Mapping[str, Any] | None
InferResult = list[ChatCompletionResponse] | list[Iterator[ChatCompletionChunk]]

# The sampling settings a config leaves unset with None; ignore_eos is a flag.
_SAMPLING_CONFIG_FIELDS = tuple(sorted(SAMPLING_FIELDS - {"ignore_eos"}))


def _invalid(exc: ValidationError, what: str) -> InvalidRequestError:
    first = exc.errors()[0]
    param = ".".join(str(part) for part in first["loc"]) or None
    details = "; ".join(
        f"{'.'.join(str(p) for p in error['loc']) or what}: {error['msg']}"
        for error in exc.errors()
    )
    return InvalidRequestError(f"invalid {what}: {details}", param=param)


def _as_request(request: RequestLike) -> InferRequest:
    if isinstance(request, InferRequest):
        return request
    try:
        return InferRequest.model_validate(request)
    except ValidationError as exc:
        raise _invalid(exc, "request") from exc


def _as_config(config: ConfigLike) -> RequestConfig:
    if config is None:
        return RequestConfig()
    if isinstance(config, RequestConfig):
        return config
    try:
        return RequestConfig.model_validate(config)
    except ValidationError as exc:
        raise _invalid(exc, "request config") from exc


@dataclass(frozen=True)
class _Job:
    """One validated request: its prompt, and one sampling setup per choice."""

    id: str
    created: int
    prepared: PreparedRequest
    samples: tuple[SamplingParams, ...]
    config: RequestConfig
    stats: InferStats | None


@dataclass(frozen=True)
class _Step:
    """What one backend delta contributes to a choice, after stop strings."""

    text: str
    tokens: int
    logprobs: list[TokenLogprob] | None
    finish_reason: FinishReason | None
    prompt_tokens: int | None = None


class Engine:
    """A model served by one backend.

    ``Engine("smollm2-135m-instruct", backend="pt", max_batch_size=16)`` loads
    the model; keyword options are the backend's typed options. ``adapters``
    maps names to LoRA adapter paths, loaded at once and chosen per request
    with ``InferRequest.adapter``. ``media`` bounds and places the images,
    videos and audios that requests may load (by default a trusted caller's
    limits: local files and private addresses allowed). The backend
    runs on a private event-loop thread, so :meth:`infer` works from plain
    scripts and from inside a running loop (a notebook) alike.
    """

    def __init__(
        self,
        model: str,
        backend: str = "auto",
        *,
        adapters: Mapping[str, str] | None = None,
        media: MediaLimits | None = None,
        **options: Any,
    ) -> None:
        registry = get_plugin_manager().registry
        entry = registry.choose(backend)
        if adapters and not entry.spec.capabilities.lora:
            raise InvalidRequestError(
                f"backend {entry.spec.name!r} does not support LoRA adapters", param="adapters"
            )
        try:
            backend_options = entry.spec.options(**options)
        except ValidationError as exc:
            raise _invalid(exc, f"options for backend {entry.spec.name!r}") from exc
        backend_class = entry.load()
        model_path = registry.resolve_model(model)
        self.model = model
        self.backend_name = entry.spec.name
        self.capabilities = entry.spec.capabilities
        self._token_text: dict[int, str] = {}
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

    # -- public API ---------------------------------------------------------

    @property
    def backend(self) -> Backend:
        return self._backend

    def infer(
        self,
        requests: Sequence[RequestLike],
        config: ConfigLike = None,
        *,
        stats: InferStats | None = None,
    ) -> InferResult:
        """Answer every request, concurrently; the backend batches them.

        Returns one response per request, or with ``config.stream`` one
        iterator of chunks per request (all streams start at once). ``stats``
        counts every response, streamed ones when their stream ends.
        """
        if isinstance(requests, (InferRequest, Mapping)):
            raise TypeError("infer takes a list of requests; use [request] for one")
        parsed = [_as_request(request) for request in requests]
        cfg = _as_config(config)
        jobs = self._loop.run(self._prepare_all(parsed, cfg, stats))
        if cfg.stream:
            return [self._loop.iterate(self._stream(job)) for job in jobs]
        return self._loop.run(self._complete_all(jobs))

    async def infer_async(
        self,
        request: RequestLike,
        config: ConfigLike = None,
        *,
        stats: InferStats | None = None,
    ) -> ChatCompletionResponse | AsyncIterator[ChatCompletionChunk]:
        """Answer one request: a response, or with ``config.stream`` an async iterator of chunks.

        Errors in the request are raised here, before any chunk.
        """
        prepare = self._prepare(_as_request(request), _as_config(config), stats)
        job = await self._loop.run_async(prepare)
        if job.config.stream:
            return self._loop.aiterate(self._stream(job))
        return await self._loop.run_async(self._complete(job))

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

    # -- preparation ----------------------------------------------------------

    async def _prepare_all(
        self, requests: list[InferRequest], config: RequestConfig, stats: InferStats | None
    ) -> list[_Job]:
        return [await self._prepare(request, config, stats) for request in requests]

    async def _prepare(
        self, request: InferRequest, config: RequestConfig, stats: InferStats | None
    ) -> _Job:
        self._check_supported(config)
        self._check_adapter(request)
        plan = plan_media(request)
        self._check_modalities(request, plan)
        media = await self._load_media(plan) if plan.has_media else {}
        tokenizer = self._backend.tokenizer
        renderer = self._backend.processor if plan.has_media else tokenizer
        assert renderer is not None  # _check_modalities saw to it
        prompt = render_prompt(renderer, request, plan.conversation)
        # A rendered chat template carries its own special tokens; a raw
        # prompt gets the tokenizer's (a BOS token, say), as vLLM does.
        prompt_ids = tokenizer.encode(prompt, add_special_tokens=request.prompt is not None)
        room = self._backend.max_model_len - len(prompt_ids)
        if room < 1:
            raise InvalidRequestError(
                f"the prompt has {len(prompt_ids)} tokens, and this model's context holds "
                f"{self._backend.max_model_len}; shorten the messages",
                param="messages",
            )
        if config.max_tokens is not None and config.max_tokens > room:
            raise InvalidRequestError(
                f"max_tokens={config.max_tokens} does not fit: the prompt has "
                f"{len(prompt_ids)} tokens and the context holds {self._backend.max_model_len}, "
                f"which leaves {room}",
                param="max_tokens",
            )
        request_id = uuid.uuid4().hex
        base = SamplingParams(
            max_tokens=config.max_tokens or room,
            ignore_eos=config.ignore_eos,
            logprobs=(config.top_logprobs or 0) if config.logprobs else None,
            **{name: getattr(config, name) for name in _SAMPLING_CONFIG_FIELDS},
        )
        # Each choice gets its own seed, so n samples differ yet repeat exactly.
        others = (
            replace(base, seed=None if base.seed is None else base.seed + index)
            for index in range(1, config.n)
        )
        samples = (base, *others)
        return _Job(
            id=f"chatcmpl-{request_id}",
            created=int(time.time()),
            prepared=PreparedRequest(
                request_id, prompt, tuple(prompt_ids), request.adapter, **media
            ),
            samples=samples,
            config=config,
            stats=stats,
        )

    def _check_adapter(self, request: InferRequest) -> None:
        if request.adapter is not None and request.adapter not in self.adapters:
            loaded = ", ".join(sorted(self.adapters)) or "none"
            raise InvalidRequestError(
                f"unknown adapter {request.adapter!r}; loaded adapters: {loaded}", param="adapter"
            )

    def _check_modalities(self, request: InferRequest, plan: MediaPlan) -> None:
        for modality, count in plan.counts().items():
            if modality not in self.capabilities.modalities:
                listed = f"{modality}s"
                raise InvalidRequestError(
                    f"backend {self.backend_name!r} does not take {modality}s; this request has "
                    f"{count}",
                    param=listed if getattr(request, listed) else "messages",
                )
        if plan.has_media and self._backend.processor is None:
            raise InvalidRequestError(
                f"the model {self.model!r} has no multimodal processor; it takes text only",
                param="messages",
            )
        self.media_limits.check_counts(plan.counts())

    async def _load_media(self, plan: MediaPlan) -> dict[str, tuple[Any, ...]]:
        """Every image, video and audio of ``plan``, loaded concurrently under the limits."""
        limits, fetcher = self.media_limits, self._resources.fetcher
        feature_extractor = getattr(self._backend.processor, "feature_extractor", None)
        rate = int(getattr(feature_extractor, "sampling_rate", 16_000))
        images = [load_image(source, limits, fetcher) for source in plan.sources["image"]]
        videos = [load_video(source, limits, fetcher) for source in plan.sources["video"]]
        audios = [load_audio(s, rate, limits, fetcher) for s in plan.sources["audio"]]
        loaded = await _all([*images, *videos, *audios])
        first_video, first_audio = len(images), len(images) + len(videos)
        return {
            "images": tuple(loaded[:first_video]),
            "videos": tuple(loaded[first_video:first_audio]),
            "audios": tuple(loaded[first_audio:]),
        }

    def _check_supported(self, config: RequestConfig) -> None:
        capabilities = self.capabilities
        wanted = [name for name in _SAMPLING_CONFIG_FIELDS if getattr(config, name) is not None]
        if config.ignore_eos:
            wanted.append("ignore_eos")
        for name in wanted:
            if name not in capabilities.sampling:
                raise InvalidRequestError(
                    f"backend {self.backend_name!r} does not support {name}", param=name
                )
        if config.logprobs:
            if capabilities.max_top_logprobs is None:
                raise InvalidRequestError(
                    f"backend {self.backend_name!r} does not return logprobs", param="logprobs"
                )
            if (config.top_logprobs or 0) > capabilities.max_top_logprobs:
                raise InvalidRequestError(
                    f"backend {self.backend_name!r} returns at most "
                    f"{capabilities.max_top_logprobs} top_logprobs",
                    param="top_logprobs",
                )

    # -- generation -------------------------------------------------------------

    async def _choice(self, job: _Job, index: int) -> AsyncIterator[_Step]:
        """One choice's steps: backend deltas with stop strings applied."""
        params = job.samples[index]
        prepared = job.prepared
        if len(job.samples) > 1:
            prepared = replace(prepared, request_id=f"{prepared.request_id}-{index}")
        matcher = StopMatcher(job.config.stop or ())
        deltas = self._backend.generate(prepared, params)
        try:
            async for delta in deltas:
                text = matcher.feed(delta.text)
                finish = "stop" if matcher.stopped else delta.finish_reason
                if finish is not None and not matcher.stopped:
                    text += matcher.flush()
                yield _Step(
                    text, len(delta.token_ids), self._logprobs(delta), finish, delta.prompt_tokens
                )
                if finish is not None:
                    return
        except InfercoreError:
            raise
        except Exception as exc:
            raise EngineError(f"backend {self.backend_name!r} failed: {exc!r}") from exc
        finally:
            await _aclose(deltas)
        raise EngineError(f"backend {self.backend_name!r} ended a stream without a finish reason")

    async def _complete_all(self, jobs: list[_Job]) -> list[ChatCompletionResponse]:
        return await _all([self._complete(job) for job in jobs])

    async def _complete(self, job: _Job) -> ChatCompletionResponse:
        prompt_tokens: int | None = None

        async def collect(index: int) -> tuple[Choice, int]:
            nonlocal prompt_tokens
            texts: list[str] = []
            logprobs: list[TokenLogprob] | None = [] if job.config.logprobs else None
            tokens = 0
            finish: FinishReason = "length"
            async for step in self._choice(job, index):
                prompt_tokens = step.prompt_tokens or prompt_tokens
                texts.append(step.text)
                tokens += step.tokens
                if logprobs is not None and step.logprobs:
                    logprobs.extend(step.logprobs)
                finish = step.finish_reason or finish
            choice = Choice(
                index=index,
                message=AssistantMessage(content="".join(texts)),
                logprobs=ChoiceLogprobs(content=logprobs) if logprobs is not None else None,
                finish_reason=finish,
            )
            return choice, tokens

        results = await _all([collect(i) for i in range(len(job.samples))])
        return ChatCompletionResponse(
            id=job.id,
            created=job.created,
            model=self.model,
            choices=[choice for choice, _ in results],
            usage=self._usage(job, sum(tokens for _, tokens in results), prompt_tokens),
        )

    async def _stream(self, job: _Job) -> AsyncIterator[ChatCompletionChunk]:
        def chunk(choices: list[ChunkChoice], usage: Usage | None = None) -> ChatCompletionChunk:
            return ChatCompletionChunk(
                id=job.id, created=job.created, model=self.model, choices=choices, usage=usage
            )

        count = len(job.samples)
        yield chunk(
            [
                ChunkChoice(index=i, delta=DeltaMessage(role="assistant", content=""))
                for i in range(count)
            ]
        )
        tokens = 0
        prompt_tokens: int | None = None
        async for index, step in _merge([self._choice(job, i) for i in range(count)]):
            tokens += step.tokens
            prompt_tokens = step.prompt_tokens or prompt_tokens
            if not step.text and step.finish_reason is None and not step.logprobs:
                continue  # text held back for a possible stop string or a partial character
            yield chunk(
                [
                    ChunkChoice(
                        index=index,
                        delta=DeltaMessage(content=step.text or None),
                        logprobs=ChoiceLogprobs(content=step.logprobs)
                        if step.logprobs is not None
                        else None,
                        finish_reason=step.finish_reason,
                    )
                ]
            )
        usage = self._usage(job, tokens, prompt_tokens)
        if job.config.stream_options is not None and job.config.stream_options.include_usage:
            yield chunk([], usage)

    # -- shaping ----------------------------------------------------------------

    def _usage(
        self, job: _Job, completion_tokens: int, expanded_prompt: int | None = None
    ) -> Usage:
        """The usage of a finished job, counted in its stats.

        ``expanded_prompt`` is the backend's count of a prompt whose media
        placeholders its processor expanded.
        """
        prompt_tokens = expanded_prompt or len(job.prepared.prompt_token_ids)
        usage = Usage(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            total_tokens=prompt_tokens + completion_tokens,
        )
        if job.stats is not None:
            job.stats.add(usage, len(job.samples))
        return usage

    def _token_string(self, token_id: int) -> str:
        text = self._token_text.get(token_id)
        if text is None:
            text = self._backend.tokenizer.decode([token_id], skip_special_tokens=False)
            self._token_text[token_id] = text
        return text

    def _logprobs(self, delta: Delta) -> list[TokenLogprob] | None:
        if delta.logprobs is None:
            return None
        entries = []
        for item in delta.logprobs:
            token = self._token_string(item.token_id)
            top = [
                TopLogprob(
                    token=(text := self._token_string(tid)), logprob=lp, bytes=list(text.encode())
                )
                for tid, lp in item.top
            ]
            entries.append(
                TokenLogprob(
                    token=token, logprob=item.logprob, bytes=list(token.encode()), top_logprobs=top
                )
            )
        return entries


async def _construct(
    backend_class: type[Backend], model: str, options: BackendOptions, adapters: dict[str, str]
) -> Backend:
    # Constructed on the engine's loop: some engines bind to the loop they start on.
    backend = backend_class(model, options)
    try:
        for name, path in adapters.items():
            await backend.load_adapter(name, path)
    except BaseException:
        await backend.aclose()
        raise
    return backend


async def _all(coros: Sequence[Coroutine[Any, Any, T]]) -> list[T]:
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


async def _aclose(stream: AsyncIterator[Any]) -> None:
    aclose = getattr(stream, "aclose", None)
    if aclose is not None:
        await aclose()


async def _merge(streams: list[AsyncIterator[_Step]]) -> AsyncIterator[tuple[int, _Step]]:
    """Interleave several choices' steps as they come, tagged with the choice index."""
    if len(streams) == 1:
        async for step in streams[0]:
            yield 0, step
        return
    queue: asyncio.Queue[tuple[int, _Step] | BaseException | None] = asyncio.Queue()

    async def pump(index: int, stream: AsyncIterator[_Step]) -> None:
        try:
            async for step in stream:
                await queue.put((index, step))
        except Exception as exc:
            await queue.put(exc)
        finally:
            await queue.put(None)

    tasks = [asyncio.create_task(pump(i, s)) for i, s in enumerate(streams)]
    try:
        remaining = len(tasks)
        while remaining:
            item = await queue.get()
            if item is None:
                remaining -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


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
    cfg = _as_config(config)
    if cfg.stream:
        raise InvalidRequestError("infercore.infer does not stream; use an Engine", param="stream")
    with Engine(model, backend=backend, **options) as engine:
        results = engine.infer(requests, cfg, stats=stats)
    return results  # type: ignore[return-value]

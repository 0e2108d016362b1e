"""What the chat talks to: a local engine, or a running server through InferClient."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from infercore._app._settings import OPENAI_SAMPLING
from infercore._client import InferClient
from infercore._engine import Engine
from infercore._media import MediaLimits, Modality
from infercore._stats import InferStats
from infercore._types import ChatCompletionChunk, RequestConfig

__all__ = ["ChatTarget"]

#: Requests answered at once when neither the flag nor the backend's options say.
DEFAULT_CONCURRENCY = 16
# The backend options that say how many sequences a backend batches (pt, vLLM).
_BATCH_OPTIONS = ("max_batch_size", "max_num_seqs")


@dataclass(frozen=True)
class ChatTarget:
    """An ``Engine`` or ``InferClient`` with what the page may offer for it.

    ``sampling``: the settings it honours; ``models``: the names to answer with,
    the base model first (its adapters after it); ``media``: what may be uploaded;
    ``concurrency``: answers generated at once, which the backend batches;
    ``running``: the requests the engine holds now, where the page can read it.
    """

    source: Engine | InferClient
    title: str
    sampling: frozenset[str]
    models: tuple[str, ...]
    media: frozenset[Modality]
    media_limits: MediaLimits
    concurrency: int
    max_tokens: int | None
    running: Callable[[], int] | None

    @classmethod
    def for_engine(cls, engine: Engine, concurrency: int | None = None) -> ChatTarget:
        """A local engine: its capabilities and adapters; media only where its model has
        a processor for them."""
        backend = engine.backend
        batch = next(
            (
                value
                for name in _BATCH_OPTIONS
                if isinstance(value := getattr(backend.options, name, None), int)
            ),
            DEFAULT_CONCURRENCY,
        )
        return cls(
            source=engine,
            title=f"{engine.model} on {engine.backend_name}",
            sampling=engine.capabilities.sampling - {"ignore_eos"},
            models=(engine.model, *engine.adapters),
            media=engine.capabilities.modalities if backend.processor is not None else frozenset(),
            media_limits=engine.media_limits,
            concurrency=concurrency or batch,
            max_tokens=backend.max_model_len,
            running=lambda: backend.active_requests,
        )

    @classmethod
    def for_client(
        cls, client: InferClient, media_limits: MediaLimits, concurrency: int | None = None
    ) -> ChatTarget:
        """A server: the OpenAI API's settings, the models it serves (its default one
        first), every modality (the server refuses what its model does not take)."""
        served = client.models
        return cls(
            source=client,
            title=f"{client.model} at {client.base_url}",
            sampling=OPENAI_SAMPLING,
            models=(client.model, *(name for name in served if name != client.model)),
            media=frozenset({"image", "video", "audio"}),
            media_limits=media_limits,
            concurrency=concurrency or DEFAULT_CONCURRENCY,
            max_tokens=None,
            running=None,
        )

    def adapter(self, model: str) -> str | None:
        """The request's ``adapter`` for a name of :attr:`models`: None for the base."""
        return None if model == self.models[0] else model

    async def stream(
        self, request: dict[str, Any], config: RequestConfig, stats: InferStats
    ) -> AsyncIterator[ChatCompletionChunk]:
        """The answer's chunks; request faults raise before the first one."""
        return await self.source.stream_async(request, config, stats=stats)

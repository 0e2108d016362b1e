"""The client's pooling calls (embeddings, classification, scores and reranking) over
HTTP, and what every call of the client shares: the served model, an answer's JSON or
its typed error.

A part of :class:`~infercore.InferClient`, with the signatures and types of the
engine's own calls (:mod:`infercore._engine_pooling`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from infercore._connections import Connections
from infercore._embed import EmbedConfigLike, EmbedInputs, as_embed_config
from infercore._embedding_types import EmbeddingResponse
from infercore._errors import EngineError, ServerUnreachableError
from infercore._openai import (
    classify_body,
    embedding_body,
    error_for_status,
    first_model,
    model_ids,
    rerank_body,
    score_body,
    step_score_body,
)
from infercore._pool_inputs import PoolInputs
from infercore._score import ScoreConfigLike, as_score_config
from infercore._score_types import (
    ClassificationResponse,
    RerankResponse,
    ScoreResponse,
    StepScoreResponse,
)

__all__ = ["PoolingClientCalls"]

R = TypeVar("R", bound=BaseModel)


class PoolingClientCalls:
    """``embed``, ``classify``, ``score`` and ``rerank``, each sync and async."""

    base_url: str
    _model: str | None
    _connections: Connections

    def embed(self, inputs: EmbedInputs, config: EmbedConfigLike = None) -> EmbeddingResponse:
        """Each input's embedding from ``POST /v1/embeddings``; as :meth:`Engine.embed`
        (texts and token ids: the wire format has no conversations)."""
        body = embedding_body, inputs, as_embed_config(config)
        return self._sync("/embeddings", EmbeddingResponse, *body)

    async def embed_async(
        self, inputs: EmbedInputs, config: EmbedConfigLike = None
    ) -> EmbeddingResponse:
        """:meth:`embed`, on the caller's event loop."""
        body = embedding_body, inputs, as_embed_config(config)
        return await self._async("/embeddings", EmbeddingResponse, *body)

    def classify(
        self, inputs: PoolInputs, config: ScoreConfigLike = None
    ) -> ClassificationResponse:
        """Each input's class from ``POST /v1/classify``; as :meth:`Engine.classify` (texts
        and token ids)."""
        body = classify_body, inputs, as_score_config(config)
        return self._sync("/classify", ClassificationResponse, *body)

    async def classify_async(
        self, inputs: PoolInputs, config: ScoreConfigLike = None
    ) -> ClassificationResponse:
        """:meth:`classify`, on the caller's event loop."""
        body = classify_body, inputs, as_score_config(config)
        return await self._async("/classify", ClassificationResponse, *body)

    def score(
        self,
        query: str | Sequence[str],
        documents: str | Sequence[str],
        config: ScoreConfigLike = None,
    ) -> ScoreResponse:
        """Each pair's score from ``POST /v1/score``; as :meth:`Engine.score`."""
        body = score_body, _as_json(query), _as_json(documents), as_score_config(config)
        return self._sync("/score", ScoreResponse, *body)

    async def score_async(
        self,
        query: str | Sequence[str],
        documents: str | Sequence[str],
        config: ScoreConfigLike = None,
    ) -> ScoreResponse:
        """:meth:`score`, on the caller's event loop."""
        body = score_body, _as_json(query), _as_json(documents), as_score_config(config)
        return await self._async("/score", ScoreResponse, *body)

    def rerank(
        self,
        query: str,
        documents: Sequence[str],
        *,
        top_n: int | None = None,
        return_documents: bool = True,
        config: ScoreConfigLike = None,
    ) -> RerankResponse:
        """``documents`` ranked from ``POST /v1/rerank``; as :meth:`Engine.rerank`."""
        cfg = as_score_config(config)
        body = rerank_body, query, _as_json(documents), top_n, return_documents, cfg
        return self._sync("/rerank", RerankResponse, *body)

    async def rerank_async(
        self,
        query: str,
        documents: Sequence[str],
        *,
        top_n: int | None = None,
        return_documents: bool = True,
        config: ScoreConfigLike = None,
    ) -> RerankResponse:
        """:meth:`rerank`, on the caller's event loop."""
        cfg = as_score_config(config)
        body = rerank_body, query, _as_json(documents), top_n, return_documents, cfg
        return await self._async("/rerank", RerankResponse, *body)

    def step_scores(
        self, inputs: PoolInputs, step_tag: str, config: ScoreConfigLike = None
    ) -> StepScoreResponse:
        """Each input's scores at its ``step_tag`` tokens from ``POST /v1/pooling``; as
        :meth:`Engine.step_scores`."""
        body = step_score_body, inputs, step_tag, as_score_config(config)
        return self._sync("/pooling", StepScoreResponse, *body)

    async def step_scores_async(
        self, inputs: PoolInputs, step_tag: str, config: ScoreConfigLike = None
    ) -> StepScoreResponse:
        """:meth:`step_scores`, on the caller's event loop."""
        body = step_score_body, inputs, step_tag, as_score_config(config)
        return await self._async("/pooling", StepScoreResponse, *body)

    def _unreachable(self, exc: httpx.HTTPError) -> EngineError:
        if isinstance(exc, httpx.TimeoutException):
            return EngineError(f"the server at {self.base_url} did not answer in time: {exc!r}")
        return ServerUnreachableError(
            f"cannot talk to the server at {self.base_url}: {exc!r}; "
            "is it running (infercore deploy ...) and is the URL right?"
        )

    def _checked(self, status: int, text: str, headers: httpx.Headers) -> Any:
        """The JSON of a successful answer; the typed error of a failed one."""
        if status >= 400:
            raise error_for_status(
                status, text, url=self.base_url, retry_after=headers.get("retry-after")
            )
        try:
            return json.loads(text)
        except ValueError as exc:
            raise EngineError(f"the server at {self.base_url} did not answer JSON: {exc}") from exc

    async def _amodels(self, http: httpx.AsyncClient) -> list[str]:
        try:
            response = await http.get("/models")
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        return model_ids(self._checked(response.status_code, response.text, response.headers))

    def _sync(self, path: str, answer: type[R], body: Any, *args: Any) -> R:
        """A call from sync code, on the private loop thread."""
        self._connections.check_open()
        loop, http = self._connections.private_loop()
        return loop.run(self._post(http, path, answer, body, *args))

    async def _async(self, path: str, answer: type[R], body: Any, *args: Any) -> R:
        """A call on the caller's loop."""
        self._connections.check_open()
        return await self._post(self._connections.for_this_loop(), path, answer, body, *args)

    async def _post(
        self, http: httpx.AsyncClient, path: str, answer: type[R], body: Any, *args: Any
    ) -> R:
        """``POST`` ``body(model, *args)`` to ``path``, the answer as an ``answer``."""
        if self._model is None:
            self._model = first_model(await self._amodels(http), self.base_url)
        try:
            response = await http.post(path, json=body(self._model, *args))
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        payload = self._checked(response.status_code, response.text, response.headers)
        return answer.model_validate(payload)


def _as_json(texts: str | Sequence[str]) -> str | list[str]:
    return texts if isinstance(texts, str) else list(texts)

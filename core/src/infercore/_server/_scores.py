"""``POST /v1/classify``, ``/v1/score``, ``/v1/rerank`` (and vLLM's other paths for them) and
``/pooling``: the pooling routes for :meth:`Engine.classify_async`, ``score_async``,
``rerank_async`` and ``step_scores_async``."""

from __future__ import annotations

from infercore._errors import InvalidRequestError
from infercore._openai import ClassifyRequest, RerankRequest, ScoreRequest, StepScoreRequest
from infercore._score_types import (
    ClassificationResponse,
    RerankResponse,
    ScoreResponse,
    StepScoreResponse,
)
from infercore._server._pooling import PoolingRoute

__all__ = ["ClassifyRoute", "RerankRoute", "ScoreRoute", "StepScoreRoute"]

# The engine's names for the pair's two sides, as /v1/score's body names them.
_SCORE_FIELDS = {"query": "text_1", "documents": "text_2"}


class ClassifyRoute(PoolingRoute[ClassifyRequest]):
    what = "classifications"

    def parse(self, raw: bytes) -> ClassifyRequest:
        return ClassifyRequest.parse(raw)

    async def answer(self, body: ClassifyRequest) -> tuple[ClassificationResponse, int]:
        response = await self._state.engine.classify_async(body.input, body.engine_config())
        return response, response.usage.prompt_tokens


class StepScoreRoute(PoolingRoute[StepScoreRequest]):
    what = "step scores"

    def parse(self, raw: bytes) -> StepScoreRequest:
        return StepScoreRequest.parse(raw)

    async def answer(self, body: StepScoreRequest) -> tuple[StepScoreResponse, int]:
        response = await self._state.engine.step_scores_async(
            body.input, body.step_tag, body.engine_config()
        )
        return response, response.usage.prompt_tokens


class ScoreRoute(PoolingRoute[ScoreRequest]):
    what = "scores"

    def parse(self, raw: bytes) -> ScoreRequest:
        return ScoreRequest.parse(raw)

    async def answer(self, body: ScoreRequest) -> tuple[ScoreResponse, int]:
        try:
            response = await self._state.engine.score_async(
                body.text_1, body.text_2, body.engine_config()
            )
        except InvalidRequestError as exc:
            raise InvalidRequestError(
                str(exc), _SCORE_FIELDS.get(exc.param or "", exc.param)
            ) from exc
        return response, response.usage.prompt_tokens


class RerankRoute(PoolingRoute[RerankRequest]):
    what = "rankings"

    def parse(self, raw: bytes) -> RerankRequest:
        return RerankRequest.parse(raw)

    async def answer(self, body: RerankRequest) -> tuple[RerankResponse, int]:
        response = await self._state.engine.rerank_async(
            body.query,
            body.documents,
            top_n=body.top_n,
            return_documents=body.return_documents,
            config=body.engine_config(),
        )
        return response, response.usage.total_tokens

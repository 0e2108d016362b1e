"""``POST /v1/embeddings``: the pooling route for :meth:`Engine.embed_async`."""

from __future__ import annotations

from infercore._embedding_types import EmbeddingResponse
from infercore._openai import EmbeddingRequest
from infercore._server._pooling import PoolingRoute

__all__ = ["EmbeddingsRoute"]


class EmbeddingsRoute(PoolingRoute[EmbeddingRequest]):
    what = "embeddings"

    def parse(self, raw: bytes) -> EmbeddingRequest:
        return EmbeddingRequest.parse(raw)

    async def answer(self, body: EmbeddingRequest) -> tuple[EmbeddingResponse, int]:
        response = await self._state.engine.embed_async(body.input, body.engine_config())
        return response, response.usage.prompt_tokens

"""Embeddings: inputs to token ids within the model's length, pooled by the backend,
shaped as the OpenAI embeddings response.

The core owns everything here but the forward pass: what an input may be (text,
token ids, a conversation rendered with the model's chat template), tokenization,
truncation and the length check, ``dimensions``, base64, usage. The backend's
:meth:`~infercore.Backend.pool` owns the model and its batching.
"""

from __future__ import annotations

import base64
import math
import struct
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from infercore._backend import Backend, PoolingRequest, Task
from infercore._coerce import validated
from infercore._embedding_types import (
    EmbedConfig,
    Embedding,
    EmbeddingResponse,
    EmbeddingUsage,
)
from infercore._errors import InvalidRequestError
from infercore._pool_inputs import InputTokens, PoolInputs, check_task, pooled, split_inputs

__all__ = ["EmbedConfigLike", "EmbedInputs", "Embedder", "as_embed_config"]

#: What ``Engine.embed`` takes: one text or token-id list, or a list of inputs.
EmbedInputs = PoolInputs
EmbedConfigLike = EmbedConfig | Mapping[str, Any] | None


def as_embed_config(config: EmbedConfigLike) -> EmbedConfig:
    return EmbedConfig() if config is None else validated(EmbedConfig, config, "embed config")


def _encode_float32(vector: list[float]) -> str:
    """The base64 of the vector's little-endian float32s, as the OpenAI API sends it."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def _truncate(vector: list[float], dimensions: int) -> list[float]:
    """The first ``dimensions`` numbers, rescaled to the whole vector's length."""
    kept = vector[:dimensions]
    whole, part = math.hypot(*vector), math.hypot(*kept)
    if part == 0.0:
        return kept
    return [value * whole / part for value in kept]


@dataclass(frozen=True)
class Embedder:
    """Embeds inputs with one engine's backend; every fault of the caller's is an
    :class:`InvalidRequestError` naming the field, raised before the model runs (but
    ``dimensions`` past the model's width, which its first vector tells)."""

    model: str
    backend: Backend[Any]
    backend_name: str
    #: What the engine loaded the model for.
    task: Task

    async def embed(self, inputs: EmbedInputs, config: EmbedConfig) -> EmbeddingResponse:
        check_task(self.model, self.task, "embed", "embeddings")
        tokens = InputTokens(self.model, self.backend)
        token_ids = [
            tokens.tokens(index, item, config.truncate_prompt_tokens)
            for index, item in enumerate(split_inputs(inputs))
        ]
        requests = [PoolingRequest(uuid.uuid4().hex, ids, task="embed") for ids in token_ids]
        vectors = await pooled(self.backend, self.backend_name, requests)
        return self._response(vectors, sum(len(ids) for ids in token_ids), config)

    def _response(
        self, vectors: list[list[float]], prompt_tokens: int, config: EmbedConfig
    ) -> EmbeddingResponse:
        data = []
        for index, raw in enumerate(vectors):
            vector = [float(value) for value in raw]
            if config.dimensions is not None:
                if config.dimensions > len(vector):
                    raise InvalidRequestError(
                        f"dimensions={config.dimensions} is more than this model's {len(vector)}",
                        param="dimensions",
                    )
                vector = _truncate(vector, config.dimensions)
            encoded = _encode_float32(vector) if config.encoding_format == "base64" else vector
            data.append(Embedding(index=index, embedding=encoded))
        usage = EmbeddingUsage(prompt_tokens=prompt_tokens, total_tokens=prompt_tokens)
        return EmbeddingResponse(data=data, model=self.model, usage=usage)

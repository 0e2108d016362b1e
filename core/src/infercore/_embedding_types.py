"""Embedding settings and responses, on the OpenAI ``/v1/embeddings`` wire shapes.

:class:`EmbeddingResponse` serialises to exactly what the OpenAI API returns, so
the official ``openai`` client parses it into its own ``CreateEmbeddingResponse``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["EmbedConfig", "Embedding", "EmbeddingResponse", "EmbeddingUsage", "EncodingFormat"]

#: How each vector travels: a list of floats, or the base64 of its little-endian float32s.
EncodingFormat = Literal["float", "base64"]


class EmbedConfig(BaseModel):
    """How to embed, for every input of one call.

    ``dimensions`` keeps the first that many numbers of each vector, rescaled
    to the full vector's length (a unit vector stays a unit vector); it is
    meaningful for models trained for it (Matryoshka) and may not exceed the
    model's width. ``truncate_prompt_tokens`` (vLLM's name) cuts an input to
    that many tokens, on the side the tokenizer truncates, instead of refusing
    one longer than the model takes; ``-1`` cuts to the model's length.
    """

    model_config = ConfigDict(extra="forbid")

    dimensions: int | None = Field(default=None, ge=1)
    encoding_format: EncodingFormat = "float"
    truncate_prompt_tokens: int | None = Field(default=None, ge=-1)


class Embedding(BaseModel):
    """One input's vector; ``index`` is the input's place in the call."""

    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class EmbeddingUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingResponse(BaseModel):
    """Every input's embedding, in the inputs' order, and the tokens they held."""

    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage

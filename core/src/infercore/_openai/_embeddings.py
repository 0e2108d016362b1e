"""The request body of ``/v1/embeddings``, and the client's call for it.

``input`` takes OpenAI's forms (a text, texts, token ids, lists of token ids);
``encoding_format``, ``dimensions`` and vLLM's ``truncate_prompt_tokens`` are the
engine's :class:`~infercore.EmbedConfig`; ``user`` is accepted and ignored, as the
OpenAI API does. A field OpenAI does not define is refused as unrecognized.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from infercore._embedding_types import EmbedConfig, EncodingFormat
from infercore._openai._errors import from_validation_error

__all__ = ["EmbeddingRequest", "embedding_body"]

#: ``input`` as the OpenAI API takes it.
EmbeddingInput = str | list[str] | list[int] | list[list[int]]


class EmbeddingRequest(BaseModel):
    """``POST /v1/embeddings``."""

    model_config = ConfigDict(extra="forbid")

    model: str
    input: EmbeddingInput
    encoding_format: EncodingFormat = "float"
    dimensions: int | None = Field(default=None, ge=1)
    truncate_prompt_tokens: int | None = Field(default=None, ge=-1)
    user: str | None = None

    @classmethod
    def parse(cls, data: bytes | Mapping[str, Any]) -> Self:
        """A body as the server takes it, validated; an :class:`APIError` naming the field."""
        try:
            if isinstance(data, bytes):
                return cls.model_validate_json(data)
            return cls.model_validate(data)
        except ValidationError as exc:
            raise from_validation_error(exc, {}) from None

    def engine_config(self) -> EmbedConfig:
        return EmbedConfig(
            dimensions=self.dimensions,
            encoding_format=self.encoding_format,
            truncate_prompt_tokens=self.truncate_prompt_tokens,
        )


def embedding_body(model: str, inputs: Any, config: EmbedConfig) -> dict[str, Any]:
    """The ``/v1/embeddings`` body for ``inputs`` under ``config``: only the settings set."""
    body: dict[str, Any] = {"model": model, "input": inputs}
    body.update(config.model_dump(exclude_defaults=True))
    return body

"""The request bodies of ``/v1/classify``, ``/v1/score``, ``/v1/rerank`` and ``/pooling``
(a process reward model's step scores) as vLLM names them, and the client's bodies for
them.

``/v1/classify`` takes ``input`` as ``/v1/embeddings`` does; ``/v1/score`` vLLM's
``text_1`` (one query, or one per document) and ``text_2`` (the documents);
``/v1/rerank`` the Jina/Cohere ``query``, ``documents``, ``top_n`` and
``return_documents``; ``/pooling`` ``input`` and the ``step_tag`` that ends each step
(vLLM sets it once for the engine; here each request names it). Each takes vLLM's
``truncate_prompt_tokens`` and ``use_activation``, the engine's
:class:`~infercore.ScoreConfig`. A field none of
them defines is refused as unrecognized.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from infercore._openai._errors import from_validation_error
from infercore._score_types import ScoreConfig

__all__ = [
    "ClassifyRequest",
    "RerankRequest",
    "ScoreRequest",
    "StepScoreRequest",
    "classify_body",
    "rerank_body",
    "score_body",
    "step_score_body",
]

#: ``input`` as ``/v1/embeddings`` takes it.
ClassifyInput = str | list[str] | list[int] | list[list[int]]


class _ScoreBody(BaseModel):
    """What the three bodies share: the model and the engine's settings."""

    model_config = ConfigDict(extra="forbid")

    model: str
    truncate_prompt_tokens: int | None = Field(default=None, ge=-1)
    use_activation: bool = True

    @classmethod
    def parse(cls, data: bytes | Mapping[str, Any]) -> Self:
        """A body as the server takes it, validated; an :class:`APIError` naming the field."""
        try:
            if isinstance(data, bytes):
                return cls.model_validate_json(data)
            return cls.model_validate(data)
        except ValidationError as exc:
            raise from_validation_error(exc, {}) from None

    def engine_config(self) -> ScoreConfig:
        return ScoreConfig(
            truncate_prompt_tokens=self.truncate_prompt_tokens, use_activation=self.use_activation
        )


class ClassifyRequest(_ScoreBody):
    """``POST /v1/classify``."""

    input: ClassifyInput
    user: str | None = None


class StepScoreRequest(_ScoreBody):
    """``POST /pooling`` on a process reward model: each input's scores at its step tags."""

    input: ClassifyInput
    step_tag: str
    user: str | None = None


class ScoreRequest(_ScoreBody):
    """``POST /v1/score``: ``text_1`` pairs with each of ``text_2``, or one per one."""

    text_1: str | list[str]
    text_2: str | list[str]


class RerankRequest(_ScoreBody):
    """``POST /v1/rerank``: ``top_n`` (0 or absent: every document) best first."""

    query: str
    documents: list[str]
    top_n: int | None = Field(default=None, ge=0)
    return_documents: bool = True


def _settings(config: ScoreConfig) -> dict[str, Any]:
    return config.model_dump(exclude_defaults=True)


def classify_body(model: str, inputs: Any, config: ScoreConfig) -> dict[str, Any]:
    """The ``/v1/classify`` body: only the settings set."""
    return {"model": model, "input": inputs, **_settings(config)}


def step_score_body(model: str, inputs: Any, step_tag: str, config: ScoreConfig) -> dict[str, Any]:
    """The ``/pooling`` body: only the settings set."""
    return {"model": model, "input": inputs, "step_tag": step_tag, **_settings(config)}


def score_body(
    model: str, query: str | Sequence[str], documents: str | Sequence[str], config: ScoreConfig
) -> dict[str, Any]:
    """The ``/v1/score`` body: only the settings set."""
    return {"model": model, "text_1": query, "text_2": documents, **_settings(config)}


def rerank_body(
    model: str,
    query: str,
    documents: Sequence[str],
    top_n: int | None,
    return_documents: bool,
    config: ScoreConfig,
) -> dict[str, Any]:
    """The ``/v1/rerank`` body: only the settings set."""
    body: dict[str, Any] = {"model": model, "query": query, "documents": documents}
    if top_n is not None:
        body["top_n"] = top_n
    if not return_documents:
        body["return_documents"] = False
    return {**body, **_settings(config)}

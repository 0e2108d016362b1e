"""Classification, score and rerank settings and responses, on vLLM's wire shapes.

:class:`ClassificationResponse` and :class:`ScoreResponse` are the bodies of vLLM's
``/classify`` and ``/score``; :class:`RerankResponse` is the Jina/Cohere rerank body
that vLLM's ``/rerank`` answers (``results`` best first, each with its input
``index`` and ``relevance_score``).
"""

from __future__ import annotations

import time
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ClassificationData",
    "ClassificationResponse",
    "RerankDocument",
    "RerankResponse",
    "RerankResult",
    "RerankUsage",
    "ScoreConfig",
    "ScoreData",
    "ScoreResponse",
    "ScoreUsage",
    "StepScoreResponse",
    "StepScores",
]


def _id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def _now() -> int:
    return int(time.time())


class ScoreConfig(BaseModel):
    """How to classify or score, for every input of one call.

    ``use_activation`` (vLLM's name): ``True`` turns the head's logits into
    probabilities as the model's config says (see docs/scores.md); ``False`` returns
    the raw logits (a reward model's reward). ``truncate_prompt_tokens`` cuts an
    input (a pair, for scores) to that many tokens instead of refusing one longer
    than the model takes; ``-1`` cuts to the model's length.
    """

    model_config = ConfigDict(extra="forbid")

    use_activation: bool = True
    truncate_prompt_tokens: int | None = Field(default=None, ge=-1)


class ScoreUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int
    completion_tokens: int = 0


class ClassificationData(BaseModel):
    """One input's class: ``label`` is the most probable one's name, ``probs`` every
    class's probability (or logit, without activation), in the head's order."""

    index: int
    label: str
    probs: list[float]
    num_classes: int


class _ListResponse(BaseModel):
    """What vLLM's classify and score bodies share around their ``data``."""

    object: Literal["list"] = "list"
    created: int = Field(default_factory=_now)
    model: str
    usage: ScoreUsage


class ClassificationResponse(_ListResponse):
    id: str = Field(default_factory=lambda: _id("classify"))
    data: list[ClassificationData]


class ScoreData(BaseModel):
    """The score of one (query, document) pair; ``index`` is the pair's place."""

    index: int
    object: Literal["score"] = "score"
    score: float


class ScoreResponse(_ListResponse):
    id: str = Field(default_factory=lambda: _id("score"))
    data: list[ScoreData]


class RerankDocument(BaseModel):
    text: str


class RerankResult(BaseModel):
    """One document: its place among the documents sent, its relevance, and (where
    asked for) its text."""

    index: int
    relevance_score: float
    document: RerankDocument | None = None


class RerankUsage(BaseModel):
    total_tokens: int


class RerankResponse(BaseModel):
    id: str = Field(default_factory=lambda: _id("rerank"))
    model: str
    usage: RerankUsage
    results: list[RerankResult]


class StepScores(BaseModel):
    """One input's steps: for each step-tag token, in order, every label's probability
    (or logit, without activation), as vLLM's step pooling gives them."""

    index: int
    object: Literal["pooling"] = "pooling"
    data: list[list[float]]


class StepScoreResponse(_ListResponse):
    id: str = Field(default_factory=lambda: _id("pooling"))
    data: list[StepScores]

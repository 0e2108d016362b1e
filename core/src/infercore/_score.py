"""Classification, scores and reranking: inputs to token ids, the head's logits from the
backend, the activation, and vLLM's response shapes.

As with embeddings, the core owns everything but the forward pass: the inputs, the
(query, document) pairs as the tokenizer joins them, length limits, the activation
the model's config names (:class:`~infercore._classifier_head.ClassifierHead`), the
labels, the ranking, usage. The backend's :meth:`~infercore.Backend.pool` gives each
input's raw logits.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from infercore._backend import Backend, PoolingRequest, Task
from infercore._classifier_head import Activation, ClassifierHead
from infercore._coerce import validated
from infercore._errors import EngineError, InvalidRequestError
from infercore._pool_inputs import InputTokens, PoolInputs, check_task, pooled, split_inputs
from infercore._score_types import (
    ClassificationData,
    ClassificationResponse,
    RerankDocument,
    RerankResponse,
    RerankResult,
    RerankUsage,
    ScoreConfig,
    ScoreData,
    ScoreResponse,
    ScoreUsage,
    StepScoreResponse,
    StepScores,
)

__all__ = ["ScoreConfigLike", "Scorer", "as_score_config", "classifier_head_for"]

ScoreConfigLike = ScoreConfig | Mapping[str, Any] | None


def as_score_config(config: ScoreConfigLike) -> ScoreConfig:
    return ScoreConfig() if config is None else validated(ScoreConfig, config, "score config")


def classifier_head_for(model: str, backend: Backend[Any], task: Task) -> ClassifierHead | None:
    """The head of an engine loaded for ``classify`` or ``score`` (None for other tasks);
    a scoring model must have exactly one label, its score."""
    if task not in ("classify", "score", "token_classify"):
        return None
    head = backend.classifier_head
    if head is None:
        raise EngineError(f"the backend loaded {model!r} for {task!r} but names no classifier")
    if task == "score" and len(head.labels) != 1:
        raise InvalidRequestError(
            f"the model {model!r} has {len(head.labels)} labels; a scoring model (a "
            "cross-encoder or reward model) has one; load it with task='classify' instead",
            param="model",
        )
    if task == "score" and _marks_segments(backend.tokenizer):
        # Pooling requests carry token ids alone: a model that reads the pair's segment
        # ids (BERT-style token_type_ids) would score without them, wrongly.
        raise InvalidRequestError(
            f"the tokenizer of {model!r} marks a pair's second text with token type ids, "
            "which scoring does not pass to the model yet",
            param="model",
        )
    return head


def _marks_segments(tokenizer: Any) -> bool:
    encoded = tokenizer("query", text_pair="document") if callable(tokenizer) else {}
    return any(encoded.get("token_type_ids") or ())


def _texts(value: str | Sequence[str], param: str) -> list[str]:
    texts = [value] if isinstance(value, str) else value
    if (
        isinstance(texts, str | bytes)
        or not isinstance(texts, Sequence)
        or not texts
        or not all(isinstance(text, str) for text in texts)
    ):
        raise InvalidRequestError(f"{param} must be a text or a non-empty list of texts", param)
    return list(texts)


def _pairs(query: str | Sequence[str], documents: str | Sequence[str]) -> list[tuple[str, str]]:
    """vLLM's pairing: one query with each document, or the i-th query with the i-th."""
    queries, docs = _texts(query, "query"), _texts(documents, "documents")
    if len(queries) == 1:
        return [(queries[0], doc) for doc in docs]
    if len(queries) != len(docs):
        raise InvalidRequestError(
            f"{len(queries)} queries and {len(docs)} documents: send one query, or one "
            "per document",
            param="query",
        )
    return list(zip(queries, docs, strict=True))


@dataclass(frozen=True)
class Scorer:
    """Classifies and scores with one engine's backend; every fault of the caller's is an
    :class:`InvalidRequestError` naming the field, raised before the model runs."""

    model: str
    backend: Backend[Any]
    backend_name: str
    task: Task
    #: The engine's head, for an engine loaded for ``classify`` or ``score``.
    head: ClassifierHead | None

    async def classify(self, inputs: PoolInputs, config: ScoreConfig) -> ClassificationResponse:
        check_task(self.model, self.task, "classify", "classification")
        tokens = InputTokens(self.model, self.backend)
        token_ids = [
            tokens.tokens(index, item, config.truncate_prompt_tokens)
            for index, item in enumerate(split_inputs(inputs))
        ]
        data = []
        for index, logits in enumerate(await self._logits(token_ids, "classify")):
            probs = self._activated(logits, config, self._head.classify_activation)
            best = max(range(len(logits)), key=lambda label: logits[label])
            data.append(
                ClassificationData(
                    index=index,
                    label=self._head.labels[best],
                    probs=probs,
                    num_classes=len(probs),
                )
            )
        return ClassificationResponse(model=self.model, data=data, usage=_usage(token_ids))

    async def score(
        self, query: str | Sequence[str], documents: str | Sequence[str], config: ScoreConfig
    ) -> ScoreResponse:
        check_task(self.model, self.task, "score", "scores")
        tokens = InputTokens(self.model, self.backend)
        token_ids = [
            tokens.pair(index, first, second, config.truncate_prompt_tokens)
            for index, (first, second) in enumerate(_pairs(query, documents))
        ]
        data = [
            ScoreData(
                index=index,
                score=self._activated(logits, config, self._head.score_activation)[0],
            )
            for index, logits in enumerate(await self._logits(token_ids, "score"))
        ]
        return ScoreResponse(model=self.model, data=data, usage=_usage(token_ids))

    async def rerank(
        self,
        query: str,
        documents: Sequence[str],
        top_n: int | None,
        return_documents: bool,
        config: ScoreConfig,
    ) -> RerankResponse:
        if not isinstance(query, str):
            raise InvalidRequestError("query must be one text", param="query")
        if isinstance(documents, str):
            raise InvalidRequestError("documents must be a list of texts", param="documents")
        if top_n is not None and top_n < 0:
            raise InvalidRequestError("top_n must be 0 (every document) or more", "top_n")
        scored = await self.score(query, documents, config)
        ranked = sorted(scored.data, key=lambda item: item.score, reverse=True)
        results = [
            RerankResult(
                index=item.index,
                relevance_score=item.score,
                document=RerankDocument(text=documents[item.index]) if return_documents else None,
            )
            for item in ranked[: top_n or None]
        ]
        usage = RerankUsage(total_tokens=scored.usage.total_tokens)
        return RerankResponse(model=self.model, usage=usage, results=results)

    async def step_scores(
        self, inputs: PoolInputs, step_tag: str, config: ScoreConfig
    ) -> StepScoreResponse:
        check_task(self.model, self.task, "token_classify", "step scores")
        tag = self._step_tag_id(step_tag)
        tokens = InputTokens(self.model, self.backend)
        token_ids = [
            tokens.tokens(index, item, config.truncate_prompt_tokens)
            for index, item in enumerate(split_inputs(inputs))
        ]
        width = len(self._head.labels)
        data = []
        for index, (ids, flat) in enumerate(
            zip(token_ids, await self._logits(token_ids, "token_classify"), strict=True)
        ):
            if len(flat) != len(ids) * width:
                raise EngineError(
                    f"backend {self.backend_name!r} gave {len(flat)} logits for {len(ids)} "
                    f"tokens of {width} labels"
                )
            activation = self._head.classify_activation
            steps = [
                self._activated(flat[at * width : (at + 1) * width], config, activation)
                for at, token in enumerate(ids)
                if token == tag
            ]
            data.append(StepScores(index=index, data=steps))
        return StepScoreResponse(model=self.model, data=data, usage=_usage(token_ids))

    def _step_tag_id(self, step_tag: str) -> int:
        ids = (
            self.backend.tokenizer.encode(step_tag, add_special_tokens=False)
            if isinstance(step_tag, str) and step_tag
            else []
        )
        if len(ids) != 1:
            raise InvalidRequestError(
                f"step_tag {step_tag!r} is {len(ids)} tokens for this model's tokenizer; "
                "a step tag is one token",
                param="step_tag",
            )
        return int(ids[0])

    @property
    def _head(self) -> ClassifierHead:
        assert self.head is not None, "checked with the task"
        return self.head

    async def _logits(self, token_ids: list[tuple[int, ...]], task: Task) -> list[list[float]]:
        requests = [PoolingRequest(uuid.uuid4().hex, ids, task=task) for ids in token_ids]
        return await pooled(self.backend, self.backend_name, requests)

    def _activated(
        self, logits: list[float], config: ScoreConfig, activation: Activation
    ) -> list[float]:
        return self._head.activate(logits, activation if config.use_activation else "identity")


def _usage(token_ids: list[tuple[int, ...]]) -> ScoreUsage:
    tokens = sum(len(ids) for ids in token_ids)
    return ScoreUsage(prompt_tokens=tokens, total_tokens=tokens)

"""The engine's pooling calls: embeddings, classification, scores and reranking.

A part of :class:`~infercore.Engine`, which loads the model for one task (``task=``)
and refuses the calls of every other, naming ``model``.
"""

from __future__ import annotations

from collections.abc import Sequence

from infercore._embed import EmbedConfigLike, Embedder, EmbedInputs, as_embed_config
from infercore._embedding_types import EmbeddingResponse
from infercore._loop import LoopThread
from infercore._pool_inputs import PoolInputs
from infercore._score import ScoreConfigLike, Scorer, as_score_config
from infercore._score_types import (
    ClassificationResponse,
    RerankResponse,
    ScoreResponse,
    StepScoreResponse,
)

__all__ = ["PoolingCalls"]


class PoolingCalls:
    """``embed``, ``classify``, ``score``, ``rerank`` and ``step_scores``, each sync and
    async."""

    _loop: LoopThread
    _embedder: Embedder
    _scorer: Scorer

    def embed(self, inputs: EmbedInputs, config: EmbedConfigLike = None) -> EmbeddingResponse:
        """The embedding of each input, in their order, on an engine loaded with ``task="embed"``.

        ``inputs`` is one text or list of token ids, or a list of texts, token-id
        lists and conversations (each a list of messages, rendered with the
        model's chat template). ``config`` is an :class:`~infercore.EmbedConfig`
        (or its mapping): ``dimensions``, ``encoding_format``,
        ``truncate_prompt_tokens``. An input longer than the model takes is refused
        unless ``truncate_prompt_tokens`` says to cut it. The backend batches the inputs.
        """
        return self._loop.run(self._embedder.embed(inputs, as_embed_config(config)))

    async def embed_async(
        self, inputs: EmbedInputs, config: EmbedConfigLike = None
    ) -> EmbeddingResponse:
        """:meth:`embed`, on the caller's event loop."""
        return await self._loop.run_async(self._embedder.embed(inputs, as_embed_config(config)))

    def classify(
        self, inputs: PoolInputs, config: ScoreConfigLike = None
    ) -> ClassificationResponse:
        """Each input's class, on an engine loaded with ``task="classify"`` (a
        sequence-classification or reward model).

        ``inputs`` as :meth:`embed` takes them. Each answer holds every class's
        probability (``probs``, after the activation the model's config names) and
        the most probable class's ``label``; ``config`` (a
        :class:`~infercore.ScoreConfig`) with ``use_activation=False`` gives the raw
        logits instead: a reward model's reward.
        """
        return self._loop.run(self._scorer.classify(inputs, as_score_config(config)))

    async def classify_async(
        self, inputs: PoolInputs, config: ScoreConfigLike = None
    ) -> ClassificationResponse:
        """:meth:`classify`, on the caller's event loop."""
        return await self._loop.run_async(self._scorer.classify(inputs, as_score_config(config)))

    def score(
        self,
        query: str | Sequence[str],
        documents: str | Sequence[str],
        config: ScoreConfigLike = None,
    ) -> ScoreResponse:
        """The relevance of each (query, document) pair, on an engine loaded with
        ``task="score"`` (a cross-encoder: a classifier of one label).

        One query is paired with each document; a list of queries pairs the i-th
        with the i-th document. Each pair is joined as the model's tokenizer joins
        two texts.
        """
        return self._loop.run(self._scorer.score(query, documents, as_score_config(config)))

    async def score_async(
        self,
        query: str | Sequence[str],
        documents: str | Sequence[str],
        config: ScoreConfigLike = None,
    ) -> ScoreResponse:
        """:meth:`score`, on the caller's event loop."""
        scored = self._scorer.score(query, documents, as_score_config(config))
        return await self._loop.run_async(scored)

    def rerank(
        self,
        query: str,
        documents: Sequence[str],
        *,
        top_n: int | None = None,
        return_documents: bool = True,
        config: ScoreConfigLike = None,
    ) -> RerankResponse:
        """``documents`` ranked by their :meth:`score` with ``query``, best first; the
        first ``top_n`` of them (``None`` or 0: all), with their text unless
        ``return_documents`` is false."""
        ranked = self._scorer.rerank(
            query, documents, top_n, return_documents, as_score_config(config)
        )
        return self._loop.run(ranked)

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
        ranked = self._scorer.rerank(
            query, documents, top_n, return_documents, as_score_config(config)
        )
        return await self._loop.run_async(ranked)

    def step_scores(
        self, inputs: PoolInputs, step_tag: str, config: ScoreConfigLike = None
    ) -> StepScoreResponse:
        """Each input's score at every ``step_tag`` token, on an engine loaded with
        ``task="token_classify"`` (a process reward model).

        ``inputs`` as :meth:`classify` takes them, typically a conversation whose answer
        ends each step with ``step_tag`` (a text that is one token of the model's
        tokenizer, as Qwen2.5-Math-PRM's ``<extra_0>``). Each step gets every label's
        probability (the activation :meth:`classify` applies; ``use_activation=False``:
        the raw logits), in the order of the tags.
        """
        scored = self._scorer.step_scores(inputs, step_tag, as_score_config(config))
        return self._loop.run(scored)

    async def step_scores_async(
        self, inputs: PoolInputs, step_tag: str, config: ScoreConfigLike = None
    ) -> StepScoreResponse:
        """:meth:`step_scores`, on the caller's event loop."""
        scored = self._scorer.step_scores(inputs, step_tag, as_score_config(config))
        return await self._loop.run_async(scored)

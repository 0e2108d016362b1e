"""An in-memory backend with a byte-level tokenizer, for testing the core's own logic.

Its "model" is a fixed function: the most likely next byte spells out the
last user message, then end-of-sequence; every other byte gets a small logit
that depends on the context, so sampling, penalties and logprobs all act on a
real distribution. Loaded with ``task="embed"``, an input's embedding is the
unit-length mean of a fixed pseudo-random vector per token. It proves nothing
about any real backend.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import random
from collections.abc import AsyncIterator, Callable, Sequence

from pydantic import Field

from infercore._backend import (
    SAMPLING_FIELDS,
    Backend,
    BackendOptions,
    Capabilities,
    Delta,
    PoolingRequest,
    PreparedRequest,
    SamplingParams,
    TokenLogprobs,
)
from infercore._byte_tokenizer import IM_END, IM_START, ByteTokenizer, last_user_text
from infercore._detokenize import IncrementalDetokenizer
from infercore._hookspec import hookimpl
from infercore._registry import BackendSpec
from infercore._types import FinishReason

__all__ = ["FakeBackend", "FakeOptions", "register_backends"]


class FakeOptions(BackendOptions):
    max_model_len: int = Field(default=4096, ge=16)
    #: Seconds between tokens, to make streams and cancellation observable.
    token_delay: float = Field(default=0.0, ge=0.0)
    #: At most this many tokens have a chance at each step (the rest none): a model
    #: whose distributions hold fewer tokens than a request's ``top_logprobs``.
    possible_tokens: int | None = Field(default=None, ge=2)


#: The width of the fake's embeddings.
EMBEDDING_WIDTH = 16


def _noise(context: bytes, token: int) -> float:
    digest = hashlib.blake2b(context + token.to_bytes(2, "little"), digest_size=2).digest()
    return (int.from_bytes(digest, "little") / 65535.0) * 4.0 - 2.0


class FakeBackend(Backend[FakeOptions]):
    def __init__(self, model: str, options: FakeOptions) -> None:
        super().__init__(model, options)
        self._tokenizer = ByteTokenizer()
        self._active = 0

    @property
    def tokenizer(self) -> ByteTokenizer:
        return self._tokenizer

    @property
    def max_model_len(self) -> int:
        return self.options.max_model_len

    @property
    def active_requests(self) -> int:
        return self._active

    def _logits(self, target: bytes, generated: list[int], ignore_eos: bool) -> list[float]:
        position = len(generated)
        context = bytes(t for t in generated[-3:] if t < 256)
        logits = [_noise(context, token) for token in range(self._tokenizer.vocab_size)]
        if position < len(target):
            logits[target[position]] = 6.0
        elif not ignore_eos:
            logits[IM_END] = 6.0
        else:
            logits[target[position % len(target)] if target else ord(".")] = 6.0
        logits[IM_START] = -math.inf
        if ignore_eos:
            logits[IM_END] = -math.inf
        limit = self.options.possible_tokens
        if limit is not None:
            for token in sorted(range(len(logits)), key=logits.__getitem__)[:-limit]:
                logits[token] = -math.inf
        return logits

    async def pool(self, requests: Sequence[PoolingRequest]) -> list[list[float]]:
        return [_embedding(request.prompt_token_ids) for request in requests]

    async def generate(
        self, request: PreparedRequest, params: SamplingParams
    ) -> AsyncIterator[Delta]:
        target = last_user_text(request.prompt).encode()
        rng = random.Random(params.seed)
        detokenizer = IncrementalDetokenizer(self._tokenizer)
        generated: list[int] = []
        # Asked for the answer whole, it holds every step back for the last delta.
        held: list[Delta] = []
        self._active += 1
        try:
            while True:
                await asyncio.sleep(self.options.token_delay)
                logits = self._logits(target, generated, params.ignore_eos)
                token, logprobs = _sample(logits, generated, params, rng)
                generated.append(token)
                finish: FinishReason | None = None
                if token == IM_END:
                    finish = "stop"
                elif len(generated) >= params.max_tokens:
                    finish = "length"
                text = detokenizer.push([token])
                if finish is not None:
                    text += detokenizer.flush()
                delta = Delta((token,), text, logprobs, finish)
                if params.final_only:
                    held.append(delta)
                    if finish is None:
                        continue
                    delta = _joined(held)
                yield delta
                if finish is not None:
                    return
        finally:
            self._active -= 1


def _joined(deltas: Sequence[Delta]) -> Delta:
    """One delta with what ``deltas`` carry, in order, and the last one's finish."""
    logprobs = [entry for delta in deltas for entry in delta.logprobs or ()]
    return Delta(
        tuple(token for delta in deltas for token in delta.token_ids),
        "".join(delta.text for delta in deltas),
        tuple(logprobs) if deltas[-1].logprobs is not None else None,
        deltas[-1].finish_reason,
    )


def _embedding(token_ids: Sequence[int]) -> list[float]:
    sums = [0.0] * EMBEDDING_WIDTH
    for token in token_ids:
        for i in range(EMBEDDING_WIDTH):
            sums[i] += _noise(bytes([i]), token)
    norm = math.hypot(*sums) or 1.0
    return [value / norm for value in sums]


def _log_softmax(logits: list[float]) -> list[float]:
    top = max(logits)
    total = math.log(sum(math.exp(x - top) for x in logits if x != -math.inf))
    return [x - top - total for x in logits]


def _sample(
    logits: list[float], generated: list[int], params: SamplingParams, rng: random.Random
) -> tuple[int, tuple[TokenLogprobs, ...] | None]:
    raw = _log_softmax(logits)
    scores = list(logits)
    counts: dict[int, int] = {}
    for token in generated:
        counts[token] = counts.get(token, 0) + 1
    for token, count in counts.items():
        if params.repetition_penalty is not None:
            penalty = params.repetition_penalty
            scores[token] = (
                scores[token] / penalty if scores[token] > 0 else scores[token] * penalty
            )
        scores[token] -= (params.presence_penalty or 0.0) + (
            params.frequency_penalty or 0.0
        ) * count
    if params.greedy:
        token = max(range(len(scores)), key=scores.__getitem__)
    else:
        token = _draw(scores, params, rng)
    logprobs = None
    if params.logprobs is not None:
        best = sorted(range(len(raw)), key=lambda t: raw[t], reverse=True)[: params.logprobs]
        logprobs = (TokenLogprobs(token, raw[token], tuple((t, raw[t]) for t in best)),)
    return token, logprobs


def _draw(scores: list[float], params: SamplingParams, rng: random.Random) -> int:
    temperature = 1.0 if params.temperature is None else params.temperature
    probs = [math.exp(p) for p in _log_softmax([s / temperature for s in scores])]
    order = sorted(range(len(probs)), key=probs.__getitem__, reverse=True)
    if params.top_k is not None and params.top_k > 0:
        order = order[: params.top_k]
    if params.min_p is not None:
        floor = params.min_p * probs[order[0]]
        order = [t for t in order if probs[t] >= floor]
    if params.top_p is not None:
        kept, mass = [], 0.0
        for t in order:
            kept.append(t)
            mass += probs[t]
            if mass >= params.top_p:
                break
        order = kept
    return rng.choices(order, weights=[probs[t] for t in order])[0]


def _load() -> type[FakeBackend]:
    return FakeBackend


FAKE_SPEC = BackendSpec(
    name="fake",
    load=_load,
    capabilities=Capabilities(
        tasks=frozenset({"generate", "embed"}), sampling=SAMPLING_FIELDS, max_top_logprobs=20
    ),
    options=FakeOptions,
    priority=None,
    description="in-memory byte-level backend for testing the core",
)


@hookimpl
def register_backends(register: Callable[[BackendSpec], None]) -> None:
    register(FAKE_SPEC)

"""Response shaping: backend deltas into OpenAI-shaped responses and chunks.

Stop strings end a choice wherever the backend is; logprobs get their token strings;
usage counts the prompt the model saw and every choice's tokens, and feeds the caller's
:class:`~infercore.InferStats`.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

from infercore._aio import aclose, gather, merge
from infercore._backend import Backend, Delta
from infercore._errors import EngineError, InfercoreError
from infercore._prepare import Job
from infercore._stop import StopMatcher
from infercore._types import (
    AssistantMessage,
    ChatCompletionChunk,
    ChatCompletionResponse,
    Choice,
    ChoiceLogprobs,
    ChunkChoice,
    DeltaMessage,
    FinishReason,
    TokenLogprob,
    TopLogprob,
    Usage,
)

__all__ = ["Responder"]


@dataclass(frozen=True)
class _Step:
    """What one backend delta contributes to a choice, after stop strings."""

    text: str
    tokens: int
    logprobs: list[TokenLogprob] | None
    finish_reason: FinishReason | None
    prompt_tokens: int | None = None


@dataclass
class Responder:
    """Answers prepared jobs from one engine's backend, whole or as chunks."""

    model: str
    backend: Backend[Any]
    backend_name: str
    _token_text: dict[int, str] = field(default_factory=dict)

    async def complete(self, job: Job) -> ChatCompletionResponse:
        """The whole response: every choice generated concurrently."""
        prompt_tokens: int | None = None

        async def collect(index: int) -> tuple[Choice, int]:
            nonlocal prompt_tokens
            texts: list[str] = []
            logprobs: list[TokenLogprob] | None = [] if job.config.logprobs else None
            tokens = 0
            finish: FinishReason = "length"
            async for step in self._choice(job, index):
                prompt_tokens = step.prompt_tokens or prompt_tokens
                texts.append(step.text)
                tokens += step.tokens
                if logprobs is not None and step.logprobs:
                    logprobs.extend(step.logprobs)
                finish = step.finish_reason or finish
            choice = Choice(
                index=index,
                message=AssistantMessage(content="".join(texts)),
                logprobs=ChoiceLogprobs(content=logprobs) if logprobs is not None else None,
                finish_reason=finish,
            )
            return choice, tokens

        results = await gather([collect(i) for i in range(len(job.samples))])
        return ChatCompletionResponse(
            id=job.id,
            created=job.created,
            model=self.model,
            choices=[choice for choice, _ in results],
            usage=self._usage(job, sum(tokens for _, tokens in results), prompt_tokens),
        )

    async def stream(self, job: Job) -> AsyncIterator[ChatCompletionChunk]:
        """The response as chunks: a role chunk, then text as it comes, choices interleaved."""

        def chunk(choices: list[ChunkChoice], usage: Usage | None = None) -> ChatCompletionChunk:
            return ChatCompletionChunk(
                id=job.id, created=job.created, model=self.model, choices=choices, usage=usage
            )

        count = len(job.samples)
        yield chunk(
            [
                ChunkChoice(index=i, delta=DeltaMessage(role="assistant", content=""))
                for i in range(count)
            ]
        )
        tokens = 0
        prompt_tokens: int | None = None
        async for index, step in merge([self._choice(job, i) for i in range(count)]):
            tokens += step.tokens
            prompt_tokens = step.prompt_tokens or prompt_tokens
            if not step.text and step.finish_reason is None and not step.logprobs:
                continue  # text held back for a possible stop string or a partial character
            yield chunk(
                [
                    ChunkChoice(
                        index=index,
                        delta=DeltaMessage(content=step.text or None),
                        logprobs=ChoiceLogprobs(content=step.logprobs)
                        if step.logprobs is not None
                        else None,
                        finish_reason=step.finish_reason,
                    )
                ]
            )
        usage = self._usage(job, tokens, prompt_tokens)
        if job.config.stream_options is not None and job.config.stream_options.include_usage:
            yield chunk([], usage)

    async def _choice(self, job: Job, index: int) -> AsyncIterator[_Step]:
        """One choice's steps: backend deltas with stop strings applied."""
        params = job.samples[index]
        prepared = job.prepared
        if len(job.samples) > 1:
            prepared = replace(prepared, request_id=f"{prepared.request_id}-{index}")
        matcher = StopMatcher(job.config.stop or ())
        deltas = self.backend.generate(prepared, params)
        try:
            async for delta in deltas:
                text = matcher.feed(delta.text)
                finish = "stop" if matcher.stopped else delta.finish_reason
                if finish is not None and not matcher.stopped:
                    text += matcher.flush()
                yield _Step(
                    text, len(delta.token_ids), self._logprobs(delta), finish, delta.prompt_tokens
                )
                if finish is not None:
                    return
        except InfercoreError:
            raise
        except Exception as exc:
            raise EngineError(f"backend {self.backend_name!r} failed: {exc!r}") from exc
        finally:
            await aclose(deltas)
        raise EngineError(f"backend {self.backend_name!r} ended a stream without a finish reason")

    def _usage(self, job: Job, completion_tokens: int, expanded_prompt: int | None) -> Usage:
        """The usage of a finished job, counted in its stats.

        ``expanded_prompt`` is the count of an engine that expanded the prompt's
        media placeholders itself, during generation.
        """
        prompt_tokens = expanded_prompt or len(job.prepared.prompt_token_ids)
        usage = Usage(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            total_tokens=prompt_tokens + completion_tokens,
        )
        if job.stats is not None:
            job.stats.add(usage, len(job.samples))
        return usage

    def _token_string(self, token_id: int) -> str:
        text = self._token_text.get(token_id)
        if text is None:
            text = self.backend.tokenizer.decode([token_id], skip_special_tokens=False)
            self._token_text[token_id] = text
        return text

    def _logprobs(self, delta: Delta) -> list[TokenLogprob] | None:
        if delta.logprobs is None:
            return None
        entries = []
        for item in delta.logprobs:
            token = self._token_string(item.token_id)
            top = [
                TopLogprob(
                    token=(text := self._token_string(tid)), logprob=lp, bytes=list(text.encode())
                )
                for tid, lp in item.top
                # A token the model cannot produce is no alternative (and -inf is not JSON).
                if math.isfinite(lp)
            ]
            entries.append(
                TokenLogprob(
                    token=token, logprob=item.logprob, bytes=list(token.encode()), top_logprobs=top
                )
            )
        return entries

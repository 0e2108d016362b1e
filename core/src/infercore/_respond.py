"""Response shaping: backend deltas into OpenAI-shaped responses and chunks.

Stop strings end a choice wherever the backend is; the text is then split into reasoning,
content and tool calls (the job's :class:`~infercore._parsers.OutputParsing`); logprobs get
their token strings; usage counts the prompt the model saw and every choice's tokens, and
feeds the caller's :class:`~infercore.InferStats`.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from typing import Any

from infercore._aio import aclose, gather, merge
from infercore._backend import Backend, Delta
from infercore._errors import EngineError, InfercoreError
from infercore._parsers import ParsedCall
from infercore._prepare import Job
from infercore._stop import StopMatcher
from infercore._types import (
    AssistantMessage,
    ChatCompletionChunk,
    ChatCompletionResponse,
    Choice,
    ChoiceFinishReason,
    ChoiceLogprobs,
    ChunkChoice,
    DeltaFunctionCall,
    DeltaMessage,
    DeltaToolCall,
    FunctionCall,
    TokenLogprob,
    ToolCall,
    TopLogprob,
    Usage,
)

__all__ = ["Responder"]


@dataclass(frozen=True)
class _Step:
    """What one backend delta contributes to a choice, after stop strings and parsing."""

    text: str
    tokens: int
    logprobs: list[TokenLogprob] | None
    finish_reason: ChoiceFinishReason | None
    prompt_tokens: int | None = None
    reasoning: str = ""
    calls: tuple[ToolCall, ...] = ()

    @property
    def empty(self) -> bool:
        """Whether it has nothing to send (text held back, or a token of markup)."""
        return not (self.text or self.reasoning or self.calls or self.logprobs) and (
            self.finish_reason is None
        )


def _tool_call(call: ParsedCall) -> ToolCall:
    return ToolCall(
        id=f"call_{uuid.uuid4().hex[:24]}",
        function=FunctionCall(name=call.name, arguments=call.arguments),
    )


def _delta(step: _Step, calls_before: int) -> DeltaMessage:
    """A step as a chunk's delta; each call whole, numbered after the choice's earlier ones."""
    calls = [
        DeltaToolCall(
            index=calls_before + offset,
            id=call.id,
            type="function",
            function=DeltaFunctionCall(name=call.function.name, arguments=call.function.arguments),
        )
        for offset, call in enumerate(step.calls)
    ]
    return DeltaMessage(
        content=step.text or None, reasoning=step.reasoning or None, tool_calls=calls or None
    )


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
            reasoning: list[str] = []
            calls: list[ToolCall] = []
            logprobs: list[TokenLogprob] | None = [] if job.config.logprobs else None
            tokens = 0
            finish: ChoiceFinishReason = "length"
            async for step in self._choice(job, index, whole=True):
                prompt_tokens = step.prompt_tokens or prompt_tokens
                texts.append(step.text)
                reasoning.append(step.reasoning)
                calls.extend(step.calls)
                tokens += step.tokens
                if logprobs is not None and step.logprobs:
                    logprobs.extend(step.logprobs)
                finish = step.finish_reason or finish
            content = "".join(texts)
            message = AssistantMessage(
                # Beside calls, OpenAI's content is null rather than blank.
                content=None if calls and not content.strip() else content,
                reasoning="".join(reasoning) or None,
                tool_calls=calls or None,
            )
            choice = Choice(
                index=index,
                message=message,
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
        calls_sent = [0] * count
        async for index, step in merge([self._choice(job, i, whole=False) for i in range(count)]):
            tokens += step.tokens
            prompt_tokens = step.prompt_tokens or prompt_tokens
            if step.empty:
                continue  # held back: a possible stop string, markup, a partial character
            delta = _delta(step, calls_sent[index])
            calls_sent[index] += len(step.calls)
            yield chunk(
                [
                    ChunkChoice(
                        index=index,
                        delta=delta,
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

    async def _choice(self, job: Job, index: int, *, whole: bool) -> AsyncIterator[_Step]:
        """One choice's steps: backend deltas with stop strings applied, then parsed.

        ``whole``: the caller reads the choice only once it is finished, so the
        backend may send it whole; not with stop strings, which must end the
        generation as soon as one appears.
        """
        params = replace(job.samples[index], final_only=whole and not job.config.stop)
        prepared = job.prepared
        if len(job.samples) > 1:
            prepared = replace(prepared, request_id=f"{prepared.request_id}-{index}")
        matcher = StopMatcher(job.config.stop or ())
        parser = job.parsing.start()
        deltas = self.backend.generate(prepared, params)
        try:
            async for delta in deltas:
                text = matcher.feed(delta.text)
                finish: ChoiceFinishReason | None = (
                    "stop" if matcher.stopped else delta.finish_reason
                )
                if finish is not None and not matcher.stopped:
                    text += matcher.flush()
                piece = parser.feed(text)
                if finish is not None:
                    last = parser.finish()
                    piece.content += last.content
                    piece.reasoning += last.reasoning
                    piece.calls.extend(last.calls)
                    if finish == "stop" and parser.calls:
                        finish = "tool_calls"
                yield _Step(
                    piece.content,
                    len(delta.token_ids),
                    self._logprobs(delta),
                    finish,
                    delta.prompt_tokens,
                    piece.reasoning,
                    tuple(_tool_call(call) for call in piece.calls),
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

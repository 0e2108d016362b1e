"""The ``text_completion`` shape of ``/v1/completions``, made from the engine's chat shape.

The engine answers a raw-prompt request with chat responses and chunks; this
module turns them into what the OpenAI completions API returns, including its
logprobs (``tokens``, ``token_logprobs``, ``top_logprobs``, ``text_offset``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from infercore._types import (
    ChatCompletionChunk,
    ChatCompletionResponse,
    ChoiceLogprobs,
    FinishReason,
    TokenLogprob,
    Usage,
)

__all__ = ["Completion", "CompletionStream", "completion_from_chat"]


class CompletionLogprobs(BaseModel):
    tokens: list[str]
    token_logprobs: list[float]
    #: Per token: its best alternatives and the token itself, by token text.
    top_logprobs: list[dict[str, float]]
    #: Per token: where it starts in the choice's generated text.
    text_offset: list[int]


class CompletionChoice(BaseModel):
    index: int
    text: str
    logprobs: CompletionLogprobs | None = None
    finish_reason: FinishReason | None = None


class Completion(BaseModel):
    """A completion, or one chunk of a streamed completion (OpenAI uses one shape for both)."""

    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage | None = None


def _completion_id(chat_id: str) -> str:
    # An answer from another server through InferClient may carry a completion's id already.
    return "cmpl-" + chat_id.removeprefix("chatcmpl-").removeprefix("cmpl-")


def _logprobs(entries: list[TokenLogprob], offset: int) -> CompletionLogprobs:
    tokens: list[str] = []
    token_logprobs: list[float] = []
    top_logprobs: list[dict[str, float]] = []
    text_offset: list[int] = []
    for entry in entries:
        tokens.append(entry.token)
        token_logprobs.append(entry.logprob)
        top = {alternative.token: alternative.logprob for alternative in entry.top_logprobs}
        # The API always reports the sampled token too, even when it is not among the best.
        top.setdefault(entry.token, entry.logprob)
        top_logprobs.append(top)
        text_offset.append(offset)
        offset += len(entry.token)
    return CompletionLogprobs(
        tokens=tokens,
        token_logprobs=token_logprobs,
        top_logprobs=top_logprobs,
        text_offset=text_offset,
    )


def _entries(logprobs: ChoiceLogprobs | None) -> list[TokenLogprob] | None:
    if logprobs is None:
        return None
    return logprobs.content or []


def completion_from_chat(response: ChatCompletionResponse, model: str) -> Completion:
    """The completions-API form of a finished chat response."""
    choices = []
    for choice in response.choices:
        entries = _entries(choice.logprobs)
        choices.append(
            CompletionChoice(
                index=choice.index,
                text=choice.message.content or "",
                logprobs=_logprobs(entries, 0) if entries is not None else None,
                finish_reason=choice.finish_reason,
            )
        )
    return Completion(
        id=_completion_id(response.id),
        created=response.created,
        model=model,
        choices=choices,
        usage=response.usage,
    )


class CompletionStream:
    """Turns one request's chat chunks into completion chunks, keeping each choice's offset."""

    def __init__(self, model: str) -> None:
        self._model = model
        self._offsets: dict[int, int] = {}

    def convert(self, chunk: ChatCompletionChunk) -> Completion | None:
        """The completion chunk for ``chunk``; ``None`` for the chat-only role announcement."""
        choices = []
        for choice in chunk.choices:
            delta = choice.delta
            if delta.role is not None and not delta.content and choice.finish_reason is None:
                continue
            text = delta.content or ""
            entries = _entries(choice.logprobs)
            offset = self._offsets.get(choice.index, 0)
            choices.append(
                CompletionChoice(
                    index=choice.index,
                    text=text,
                    logprobs=_logprobs(entries, offset) if entries is not None else None,
                    finish_reason=choice.finish_reason,
                )
            )
            self._offsets[choice.index] = offset + len(text)
        if not choices and chunk.usage is None:
            return None
        return Completion(
            id=_completion_id(chunk.id),
            created=chunk.created,
            model=self._model,
            choices=choices,
            usage=chunk.usage,
        )

"""What the pooling calls (embed, classify, score) share: their inputs as the token ids a
backend pools, the engine's task checked, and the backend's :meth:`~infercore.Backend.pool`.

What an input may be (a text, its token ids, a conversation rendered with the model's
chat template, or a text pair for a cross-encoder), tokenization, truncation and the
check against the model's length are the same for every pooling task, and the core's:
every fault is an :class:`InvalidRequestError` naming the field, raised before the model
runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Sized
from dataclasses import dataclass
from typing import Any

from infercore._backend import Backend, PoolingRequest, Task
from infercore._coerce import validated
from infercore._errors import EngineError, InfercoreError, InvalidRequestError
from infercore._multimodal import plan_media
from infercore._types import ChatMessage, InferRequest

__all__ = ["InputTokens", "PoolInput", "PoolInputs", "check_task", "pooled", "split_inputs"]

#: One input: a text, its token ids, or a conversation (a list of messages).
PoolInput = str | Sequence[int] | Sequence[ChatMessage | Mapping[str, Any]]
#: What the pooling calls take: one text or token-id list, or a list of inputs.
PoolInputs = str | Sequence[int] | Sequence[PoolInput]
#: One input told apart: text, token ids, or a conversation.
SplitInput = str | tuple[int, ...] | list[ChatMessage]


def _is_token_ids(value: object) -> bool:
    return (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and bool(value)
        and all(isinstance(item, int) and not isinstance(item, bool) for item in value)
    )


def _is_message(value: object) -> bool:
    return isinstance(value, ChatMessage | Mapping)


def split_inputs(inputs: PoolInputs, param: str = "input") -> list[SplitInput]:
    """Each input of a call, told apart as text, token ids or a conversation."""
    if isinstance(inputs, str) or _is_token_ids(inputs):
        items: Sequence[Any] = [inputs]
    elif isinstance(inputs, Sequence) and inputs:
        items = inputs
    else:
        raise InvalidRequestError(
            f"{param} must be a text, a list of token ids, or a non-empty list of those "
            "(or of conversations)",
            param=param,
        )
    if any(_is_message(item) for item in items):
        raise InvalidRequestError(
            "a conversation is one input: pass it inside a list, as [messages]", param=param
        )
    split: list[SplitInput] = []
    for index, item in enumerate(items):
        if isinstance(item, str):
            if not item:
                raise InvalidRequestError(f"{param}[{index}] is an empty text", param=param)
            split.append(item)
        elif _is_token_ids(item):
            split.append(tuple(item))
        elif isinstance(item, Sequence) and item and all(_is_message(m) for m in item):
            messages = [validated(ChatMessage, m, f"{param}[{index}] message") for m in item]
            split.append(messages)
        else:
            raise InvalidRequestError(
                f"{param}[{index}] must be a non-empty text, list of token ids, or list of "
                "messages",
                param=param,
            )
    return split


@dataclass(frozen=True)
class InputTokens:
    """Inputs to token ids with one engine's tokenizer, within its length.

    ``truncate`` is vLLM's ``truncate_prompt_tokens``: cut an input to that many
    tokens (``-1``: to the model's length) instead of refusing one that is longer.
    """

    model: str
    backend: Backend[Any]

    def tokens(
        self, index: int, item: SplitInput, truncate: int | None, param: str = "input"
    ) -> tuple[int, ...]:
        tokenizer = self.backend.tokenizer
        cut = self._cut(truncate)
        if isinstance(item, tuple):
            ids = self._checked_ids(index, item, param)
            if cut is not None and len(ids) > cut:
                # Token ids are the caller's own: cut on the side the tokenizer truncates.
                left = getattr(tokenizer, "truncation_side", "right") == "left"
                ids = ids[-cut:] if left else ids[:cut]
        else:
            text, special = (
                (item, True) if isinstance(item, str) else (self._render(index, item), False)
            )
            # The tokenizer truncates text itself, so that its special tokens ([SEP]) stay.
            cutting = {"truncation": True, "max_length": cut} if cut is not None else {}
            ids = tuple(tokenizer.encode(text, add_special_tokens=special, **cutting))
        return self._within(index, ids, param)

    def pair(self, index: int, query: str, document: str, truncate: int | None) -> tuple[int, ...]:
        """A (query, document) pair as the model's tokenizer joins two texts for a
        cross-encoder (its special tokens and separators included)."""
        cut = self._cut(truncate)
        cutting = {"truncation": True, "max_length": cut} if cut is not None else {}
        ids = self.backend.tokenizer.encode(
            query, text_pair=document, add_special_tokens=True, **cutting
        )
        return self._within(index, tuple(ids), "documents")

    def _cut(self, truncate: int | None) -> int | None:
        limit = self.backend.max_model_len
        return limit if truncate is not None and (truncate == -1 or truncate > limit) else truncate

    def _within(self, index: int, ids: tuple[int, ...], param: str) -> tuple[int, ...]:
        limit = self.backend.max_model_len
        if len(ids) > limit:
            raise InvalidRequestError(
                f"{param}[{index}] has {len(ids)} tokens, and this model takes at most {limit}; "
                "shorten it, or set truncate_prompt_tokens",
                param=param,
            )
        return ids

    def _checked_ids(self, index: int, ids: tuple[int, ...], param: str) -> tuple[int, ...]:
        tokenizer = self.backend.tokenizer
        # A Hugging Face tokenizer's len() counts its added tokens, which vocab_size does not.
        vocabulary = (
            len(tokenizer)
            if isinstance(tokenizer, Sized)
            else getattr(tokenizer, "vocab_size", None)
        )
        wrong = [t for t in ids if t < 0 or (vocabulary is not None and t >= vocabulary)]
        if wrong:
            raise InvalidRequestError(
                f"{param}[{index}] holds token ids outside the vocabulary "
                f"(0 to {vocabulary}): {wrong[:5]}",
                param=param,
            )
        return ids

    def _render(self, index: int, messages: list[ChatMessage]) -> str:
        """A conversation as the model's chat template renders it, with no reply begun."""
        plan = plan_media(InferRequest(messages=messages))
        if plan.has_media:
            raise InvalidRequestError(
                f"input[{index}] holds media; pooling models take text only", param="input"
            )
        try:
            prompt = self.backend.tokenizer.apply_chat_template(
                plan.conversation, tokenize=False, add_generation_prompt=False
            )
        except Exception as exc:
            raise InvalidRequestError(
                f"the model {self.model!r} cannot render input[{index}] as a conversation "
                f"(its chat template: {exc}); send text instead",
                param="input",
            ) from exc
        return str(prompt)


def check_task(model: str, loaded: Task, wanted: Task, what: str) -> None:
    """Refuse a call for ``wanted`` on an engine loaded for another task, naming ``model``."""
    if loaded != wanted:
        raise InvalidRequestError(
            f"the model {model!r} is loaded for {loaded!r}, not for {what}; "
            f"load it with task={wanted!r} (-O task={wanted}) on a backend that has it",
            param="model",
        )


async def pooled(
    backend: Backend[Any], backend_name: str, requests: list[PoolingRequest]
) -> list[list[float]]:
    """The backend's one vector per request; a backend's own failure as an
    :class:`EngineError` naming it."""
    try:
        vectors = await backend.pool(requests)
    except InfercoreError:
        raise
    except Exception as exc:
        raise EngineError(f"backend {backend_name!r} failed: {exc!r}") from exc
    if len(vectors) != len(requests):
        raise EngineError(
            f"backend {backend_name!r} pooled {len(vectors)} vectors for {len(requests)} inputs"
        )
    return vectors

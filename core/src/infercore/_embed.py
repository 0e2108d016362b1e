"""Embeddings: inputs to token ids within the model's length, pooled by the backend,
shaped as the OpenAI embeddings response.

The core owns everything here but the forward pass: what an input may be (text,
token ids, a conversation rendered with the model's chat template), tokenization,
truncation and the length check, ``dimensions``, base64, usage. The backend's
:meth:`~infercore.Backend.pool` owns the model and its batching.
"""

from __future__ import annotations

import base64
import math
import struct
import uuid
from collections.abc import Mapping, Sequence, Sized
from dataclasses import dataclass
from typing import Any

from infercore._backend import Backend, PoolingRequest, Task
from infercore._coerce import validated
from infercore._embedding_types import (
    EmbedConfig,
    Embedding,
    EmbeddingResponse,
    EmbeddingUsage,
)
from infercore._errors import EngineError, InfercoreError, InvalidRequestError
from infercore._multimodal import plan_media
from infercore._types import ChatMessage, InferRequest

__all__ = ["EmbedConfigLike", "EmbedInputs", "Embedder", "as_embed_config", "split_inputs"]

#: One input: a text, its token ids, or a conversation (a list of messages).
EmbedInput = str | Sequence[int] | Sequence[ChatMessage | Mapping[str, Any]]
#: What ``Engine.embed`` takes: one text or token-id list, or a list of inputs.
EmbedInputs = str | Sequence[int] | Sequence[EmbedInput]
EmbedConfigLike = EmbedConfig | Mapping[str, Any] | None


def as_embed_config(config: EmbedConfigLike) -> EmbedConfig:
    return EmbedConfig() if config is None else validated(EmbedConfig, config, "embed config")


def _is_token_ids(value: object) -> bool:
    return (
        isinstance(value, Sequence)
        and not isinstance(value, str)
        and bool(value)
        and all(isinstance(item, int) and not isinstance(item, bool) for item in value)
    )


def _is_message(value: object) -> bool:
    return isinstance(value, ChatMessage | Mapping)


def split_inputs(inputs: EmbedInputs) -> list[str | tuple[int, ...] | list[ChatMessage]]:
    """Each input of a call, told apart as text, token ids or a conversation."""
    if isinstance(inputs, str) or _is_token_ids(inputs):
        items: Sequence[Any] = [inputs]
    elif isinstance(inputs, Sequence) and inputs:
        items = inputs
    else:
        raise InvalidRequestError(
            "input must be a text, a list of token ids, or a non-empty list of those "
            "(or of conversations)",
            param="input",
        )
    if any(_is_message(item) for item in items):
        raise InvalidRequestError(
            "a conversation is one input: pass it inside a list, as [messages]", param="input"
        )
    split: list[str | tuple[int, ...] | list[ChatMessage]] = []
    for index, item in enumerate(items):
        if isinstance(item, str):
            if not item:
                raise InvalidRequestError(f"input[{index}] is an empty text", param="input")
            split.append(item)
        elif _is_token_ids(item):
            split.append(tuple(item))
        elif isinstance(item, Sequence) and item and all(_is_message(m) for m in item):
            messages = [validated(ChatMessage, m, f"input[{index}] message") for m in item]
            split.append(messages)
        else:
            raise InvalidRequestError(
                f"input[{index}] must be a non-empty text, list of token ids, or list of messages",
                param="input",
            )
    return split


def _encode_float32(vector: list[float]) -> str:
    """The base64 of the vector's little-endian float32s, as the OpenAI API sends it."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def _truncate(vector: list[float], dimensions: int) -> list[float]:
    """The first ``dimensions`` numbers, rescaled to the whole vector's length."""
    kept = vector[:dimensions]
    whole, part = math.hypot(*vector), math.hypot(*kept)
    if part == 0.0:
        return kept
    return [value * whole / part for value in kept]


@dataclass(frozen=True)
class Embedder:
    """Embeds inputs with one engine's backend; every fault of the caller's is an
    :class:`InvalidRequestError` naming the field, raised before the model runs (but
    ``dimensions`` past the model's width, which its first vector tells)."""

    model: str
    backend: Backend[Any]
    backend_name: str
    #: What the engine loaded the model for.
    task: Task

    async def embed(self, inputs: EmbedInputs, config: EmbedConfig) -> EmbeddingResponse:
        if self.task != "embed":
            raise InvalidRequestError(
                f"the model {self.model!r} is loaded for {self.task!r}, not for embeddings; "
                f"load it with task='embed' (-O task=embed) on a backend that embeds",
                param="model",
            )
        token_ids = [
            self._tokens(index, item, config) for index, item in enumerate(split_inputs(inputs))
        ]
        requests = [PoolingRequest(uuid.uuid4().hex, ids, task="embed") for ids in token_ids]
        try:
            vectors = await self.backend.pool(requests)
        except InfercoreError:
            raise
        except Exception as exc:
            raise EngineError(f"backend {self.backend_name!r} failed: {exc!r}") from exc
        if len(vectors) != len(requests):
            raise EngineError(
                f"backend {self.backend_name!r} pooled {len(vectors)} vectors for "
                f"{len(requests)} inputs"
            )
        return self._response(vectors, sum(len(ids) for ids in token_ids), config)

    def _tokens(
        self, index: int, item: str | tuple[int, ...] | list[ChatMessage], config: EmbedConfig
    ) -> tuple[int, ...]:
        tokenizer = self.backend.tokenizer
        limit = self.backend.max_model_len
        cut = config.truncate_prompt_tokens
        if cut is not None and (cut == -1 or cut > limit):
            cut = limit
        if isinstance(item, tuple):
            ids = self._checked_ids(index, item)
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
        if len(ids) > limit:
            raise InvalidRequestError(
                f"input[{index}] has {len(ids)} tokens, and this model takes at most {limit}; "
                "shorten it, or set truncate_prompt_tokens",
                param="input",
            )
        return ids

    def _checked_ids(self, index: int, ids: tuple[int, ...]) -> tuple[int, ...]:
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
                f"input[{index}] holds token ids outside the vocabulary "
                f"(0 to {vocabulary}): {wrong[:5]}",
                param="input",
            )
        return ids

    def _render(self, index: int, messages: list[ChatMessage]) -> str:
        """A conversation as the model's chat template renders it, with no reply begun."""
        plan = plan_media(InferRequest(messages=messages))
        if plan.has_media:
            raise InvalidRequestError(
                f"input[{index}] holds media; embeddings take text only", param="input"
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

    def _response(
        self, vectors: list[list[float]], prompt_tokens: int, config: EmbedConfig
    ) -> EmbeddingResponse:
        data = []
        for index, raw in enumerate(vectors):
            vector = [float(value) for value in raw]
            if config.dimensions is not None:
                if config.dimensions > len(vector):
                    raise InvalidRequestError(
                        f"dimensions={config.dimensions} is more than this model's {len(vector)}",
                        param="dimensions",
                    )
                vector = _truncate(vector, config.dimensions)
            encoded = _encode_float32(vector) if config.encoding_format == "base64" else vector
            data.append(Embedding(index=index, embedding=encoded))
        usage = EmbeddingUsage(prompt_tokens=prompt_tokens, total_tokens=prompt_tokens)
        return EmbeddingResponse(data=data, model=self.model, usage=usage)

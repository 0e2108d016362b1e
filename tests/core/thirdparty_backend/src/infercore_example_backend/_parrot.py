"""A word-level "parrot" engine: it answers with the last user message, word by word.

With a temperature it mishears: each word may be swapped for another word of the
message, drawn from a generator seeded by ``params.seed``.
"""

from __future__ import annotations

import asyncio
import random
import re
import threading
from collections.abc import AsyncIterator, Sequence
from typing import Any

from pydantic import Field

from infercore import (
    Backend,
    BackendOptions,
    Delta,
    PreparedRequest,
    SamplingParams,
)

__all__ = ["ParrotBackend", "ParrotOptions", "ParrotTokenizer"]

SYSTEM, USER, ASSISTANT, END = "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"
_SPECIALS = (SYSTEM, USER, ASSISTANT, END)
_ROLE_MARKERS = {"system": SYSTEM, "user": USER, "assistant": ASSISTANT}
_SPECIAL_RE = re.compile("(" + "|".join(re.escape(s) for s in _SPECIALS) + ")")
# A word with the whitespace before it, or trailing whitespace alone: lossless.
_PIECE_RE = re.compile(r"\s*\S+|\s+")


class ParrotTokenizer:
    """One token per word (with its leading whitespace); ids are given out as words appear."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pieces: list[str] = list(_SPECIALS)
        self._ids: dict[str, int] = {piece: i for i, piece in enumerate(_SPECIALS)}
        self.eos_token_id = self._ids[END]

    def _id(self, piece: str) -> int:
        with self._lock:
            token_id = self._ids.get(piece)
            if token_id is None:
                token_id = self._ids[piece] = len(self._pieces)
                self._pieces.append(piece)
            return token_id

    def is_special(self, token_id: int) -> bool:
        return token_id < len(_SPECIALS)

    def apply_chat_template(self, conversation: Any, /, **kwargs: Any) -> Any:
        text = ""
        for message in conversation:
            marker = _ROLE_MARKERS.get(message["role"])
            if marker is None:
                raise ValueError(f"role {message['role']!r} is not supported by this template")
            text += f"{marker}{message['content']}{END}"
        if kwargs.get("continue_final_message"):
            text = text.removesuffix(END)
        elif kwargs.get("add_generation_prompt"):
            text += ASSISTANT
        return self.encode(text) if kwargs.get("tokenize", True) else text

    def encode(self, text: str, /, **kwargs: Any) -> list[int]:
        ids: list[int] = []
        for part in _SPECIAL_RE.split(text):
            if part in _SPECIALS:
                ids.append(self._ids[part])
            else:
                ids.extend(self._id(piece) for piece in _PIECE_RE.findall(part))
        return ids

    def decode(self, token_ids: Any, /, **kwargs: Any) -> str:
        skip = kwargs.get("skip_special_tokens", False)
        return "".join(self._pieces[i] for i in token_ids if not (skip and self.is_special(i)))


class ParrotOptions(BackendOptions):
    max_model_len: int = Field(default=1024, ge=8, description="tokens per sequence")
    word_delay: float = Field(default=0.0, ge=0.0, description="seconds between words")


class ParrotBackend(Backend[ParrotOptions]):
    def __init__(self, model: str, options: ParrotOptions) -> None:
        super().__init__(model, options)
        self._tokenizer = ParrotTokenizer()
        self._active = 0

    @property
    def tokenizer(self) -> ParrotTokenizer:
        return self._tokenizer

    @property
    def max_model_len(self) -> int:
        return self.options.max_model_len

    @property
    def active_requests(self) -> int:
        return self._active

    def _last_user_words(self, prompt_ids: Sequence[int]) -> list[int]:
        user, end = self._tokenizer.encode(USER + END)
        starts = [i for i, token in enumerate(prompt_ids) if token == user]
        if not starts:
            return []
        words = list(prompt_ids[starts[-1] + 1 :])
        return words[: words.index(end)] if end in words else words

    async def generate(
        self, request: PreparedRequest, params: SamplingParams
    ) -> AsyncIterator[Delta]:
        words = self._last_user_words(request.prompt_token_ids)
        source = words or self._tokenizer.encode(".")
        mishear = min(1.0, (params.temperature or 0.0) / 2.0)
        rng = random.Random(params.seed)
        self._active += 1
        try:
            for step in range(params.max_tokens):
                await asyncio.sleep(self.options.word_delay)
                if step >= len(words) and not params.ignore_eos:
                    token = self._tokenizer.eos_token_id
                elif mishear and rng.random() < mishear:
                    token = rng.choice(source)
                else:
                    token = source[step % len(source)]
                if token == self._tokenizer.eos_token_id:
                    yield Delta((token,), "", finish_reason="stop")
                    return
                last = step + 1 == params.max_tokens
                text = self._tokenizer.decode([token], skip_special_tokens=True)
                yield Delta((token,), text, finish_reason="length" if last else None)
        finally:
            self._active -= 1

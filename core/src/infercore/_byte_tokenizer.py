"""A tokenizer of one token per UTF-8 byte, with a ChatML chat template.

It needs no model files, so backends that need no model (``echo``, the test
fake) render and count prompts the same way every backend does.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["IM_END", "IM_START", "ByteTokenizer", "last_user_text"]

_SPECIALS = ("<|im_start|>", "<|im_end|>")
IM_START, IM_END = 256, 257
_SPECIAL_RE = re.compile("(" + "|".join(re.escape(s) for s in _SPECIALS) + ")")
_USER_TURN = re.compile(r"<\|im_start\|>user\n(.*?)<\|im_end\|>", re.S)


class ByteTokenizer:
    """One token per UTF-8 byte, plus the two ChatML special tokens."""

    eos_token_id = IM_END
    vocab_size = 258

    def apply_chat_template(self, conversation: Any, /, **kwargs: Any) -> str:
        parts = []
        for message in conversation:
            if message["role"] not in {"system", "user", "assistant"}:
                raise ValueError(f"role {message['role']!r} is not supported by this template")
            parts.append(f"<|im_start|>{message['role']}\n{message['content']}<|im_end|>\n")
        text = "".join(parts)
        if kwargs.get("continue_final_message"):
            text = text.removesuffix("<|im_end|>\n")
        if kwargs.get("add_generation_prompt"):
            text += "<|im_start|>assistant\n"
        return text

    def encode(self, text: str, /, **kwargs: Any) -> list[int]:
        ids: list[int] = []
        for piece in _SPECIAL_RE.split(text):
            if piece in _SPECIALS:
                ids.append(256 + _SPECIALS.index(piece))
            else:
                ids.extend(piece.encode())
        return ids

    def decode(self, token_ids: Any, /, **kwargs: Any) -> str:
        skip = kwargs.get("skip_special_tokens", False)
        out = bytearray()
        for token_id in token_ids:
            if token_id < 256:
                out.append(token_id)
            elif not skip:
                out.extend(_SPECIALS[token_id - 256].encode())
        return out.decode(errors="replace")


def last_user_text(prompt: str) -> str:
    """The last user message of a prompt that this tokenizer's template rendered."""
    turns = _USER_TURN.findall(prompt)
    return turns[-1] if turns else ""

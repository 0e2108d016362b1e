"""Turning a growing list of token ids into text deltas without splitting characters."""

from __future__ import annotations

from infercore._backend import Tokenizer

__all__ = ["IncrementalDetokenizer"]

_REPLACEMENT = "\ufffd"


class IncrementalDetokenizer:
    """Decodes generated tokens one step at a time.

    A multi-byte character (an emoji, a CJK character) may span several byte
    tokens; decoding those alone gives U+FFFD. Text is therefore decoded over a
    short window of earlier tokens, and held back while it ends in an
    incomplete character, so the concatenated deltas equal the text decoded
    at once.
    """

    def __init__(self, tokenizer: Tokenizer, *, skip_special_tokens: bool = True) -> None:
        self._tokenizer = tokenizer
        self._skip_special_tokens = skip_special_tokens
        self._ids: list[int] = []
        self._prefix_offset = 0
        self._read_offset = 0

    def _decode(self, start: int, end: int | None = None) -> str:
        return self._tokenizer.decode(
            self._ids[start:end], skip_special_tokens=self._skip_special_tokens
        )

    def push(self, token_ids: list[int] | tuple[int, ...]) -> str:
        """Add tokens and return the text that is now complete."""
        self._ids.extend(token_ids)
        prefix = self._decode(self._prefix_offset, self._read_offset)
        text = self._decode(self._prefix_offset)
        if len(text) <= len(prefix) or text.endswith(_REPLACEMENT):
            return ""
        self._prefix_offset = self._read_offset
        self._read_offset = len(self._ids)
        return text[len(prefix) :]

    def flush(self) -> str:
        """Return whatever is held back, once the sequence has ended."""
        prefix = self._decode(self._prefix_offset, self._read_offset)
        text = self._decode(self._prefix_offset)
        self._prefix_offset = self._read_offset = len(self._ids)
        return text[len(prefix) :]

"""The reasoning parser contract and the ``<think>...</think>`` parsers."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Literal

from infercore._parsers._formats import prefix_tail

__all__ = [
    "DeepSeekR1Parser",
    "Qwen3Parser",
    "ReasoningParser",
    "ReasoningPiece",
    "ReasoningStream",
]


@dataclass
class ReasoningPiece:
    """What a piece of an answer holds: the model's reasoning, and its answer."""

    reasoning: str = ""
    content: str = ""


class ReasoningParser(abc.ABC):
    """Separates a reasoning model's thinking, between ``start`` and ``end``, from its answer.

    A parser is stateless; :meth:`stream` starts one answer's incremental parse and
    :meth:`parse` parses a whole answer. The tags never reach either part: text that may
    be the start of a tag is held back until the next text decides it, and the parts do
    not depend on how the text was split. Thinking that never ends (generation cut off)
    stays reasoning. A subclass says whether an answer begins inside the reasoning,
    from the prompt its chat template rendered.
    """

    start = "<think>"
    end = "</think>"

    @abc.abstractmethod
    def opens_in_reasoning(self, prompt: str) -> bool:
        """Whether an answer to ``prompt`` is reasoning from its first token."""

    def stream(self, prompt: str) -> ReasoningStream:
        """A parse of one answer to ``prompt``, fed as its text arrives."""
        return ReasoningStream(self, self.opens_in_reasoning(prompt))

    def parse(self, text: str, prompt: str) -> ReasoningPiece:
        """The reasoning and the answer of a whole answer to ``prompt``."""
        stream = self.stream(prompt)
        first, last = stream.feed(text), stream.finish()
        return ReasoningPiece(first.reasoning + last.reasoning, first.content + last.content)


def _template_opened(parser: ReasoningParser, prompt: str) -> bool:
    return prompt.rfind(parser.start) > prompt.rfind(parser.end)


class DeepSeekR1Parser(ReasoningParser):
    """DeepSeek-R1: the answer is reasoning until ``</think>``, whether or not the model
    (or its template) wrote ``<think>``."""

    def opens_in_reasoning(self, prompt: str) -> bool:
        return True


class Qwen3Parser(ReasoningParser):
    """Qwen3 and the like: reasoning only between the tags; an answer without
    ``<think>`` (thinking switched off) is all answer."""

    def opens_in_reasoning(self, prompt: str) -> bool:
        return _template_opened(self, prompt)


class ReasoningStream:
    """One answer's parse: reasoning, then the answer, each as soon as it is decided."""

    def __init__(self, parser: ReasoningParser, opened: bool) -> None:
        self._start, self._end = parser.start, parser.end
        self._opened = opened
        # "head": a start tag may still open the answer; then inside or after the reasoning.
        self._mode: Literal["head", "reasoning", "content"] = "head"
        self._pending = ""
        # After the end tag the answer's leading blank lines are dropped, in whatever
        # pieces they come.
        self._strip = False

    def feed(self, text: str) -> ReasoningPiece:
        """Add the answer's next text; return what is decided."""
        piece = ReasoningPiece()
        self._pending += text
        if self._mode == "head":
            head = self._pending.lstrip()
            if self._start.startswith(head) and len(head) < len(self._start):
                return piece
            if head.startswith(self._start):
                self._pending = head[len(self._start) :]
                self._mode = "reasoning"
            else:
                self._mode = "reasoning" if self._opened else "content"
        if self._mode == "reasoning":
            found = self._pending.find(self._end)
            if found < 0:
                keep = prefix_tail(self._pending, self._end)
                piece.reasoning = self._pending[: len(self._pending) - keep]
                self._pending = self._pending[len(self._pending) - keep :]
                return piece
            piece.reasoning = self._pending[:found]
            self._pending = self._pending[found + len(self._end) :]
            self._mode = "content"
            self._strip = True
        if self._mode == "content":
            if self._strip:
                self._pending = self._pending.lstrip()
                self._strip = not self._pending
            piece.content, self._pending = self._pending, ""
        return piece

    def finish(self) -> ReasoningPiece:
        """The end of the answer: what was held back."""
        rest, self._pending = self._pending, ""
        if self._mode == "reasoning" or (self._mode == "head" and self._opened):
            return ReasoningPiece(reasoning=rest)
        return ReasoningPiece(content=rest)

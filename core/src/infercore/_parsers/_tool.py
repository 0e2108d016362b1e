"""The tool-call parser contract, and the one stream that runs every parser incrementally."""

from __future__ import annotations

import abc
import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ParsedCall", "ToolCallStream", "ToolParser", "ToolPiece", "call_from_object"]


@dataclass(frozen=True)
class ParsedCall:
    """One call the model made: the function's name and its arguments as JSON object text."""

    name: str
    arguments: str


@dataclass
class ToolPiece:
    """What a piece of an answer holds: content for the user, and calls."""

    content: str = ""
    calls: list[ParsedCall] = field(default_factory=list)


class ToolParser(abc.ABC):
    """A format of tool calls in a model's text (a plugin registers one per format).

    A parser is stateless; :meth:`stream` starts one answer's incremental parse and
    :meth:`parse` parses a whole answer. Both are built on three methods:

    - :meth:`find_start`: where the markup of calls begins in the text so far, or None;
    - :meth:`undecided`: how much of the text's end could still become the start of
      markup once more text arrives (held back from content until it is decided);
    - :meth:`parse_markup`: the calls in the markup (from its start to the end of the
      answer) and the text around them that is content; None when it does not parse
      (bad JSON, arguments that are not an object, markup cut off): the markup is then
      returned as content, verbatim, rather than raised.

    The core guarantees the rest: content never carries markup that parses as calls,
    whether the answer arrives whole, in tokens or one character at a time, and the
    joined content and the calls do not depend on how the text was split.
    """

    @abc.abstractmethod
    def find_start(self, text: str) -> int | None:
        """The index in ``text`` (an answer so far) where tool-call markup begins, or None."""

    @abc.abstractmethod
    def undecided(self, text: str) -> int:
        """The length of the tail of ``text`` that may begin markup when more text comes."""

    @abc.abstractmethod
    def parse_markup(self, markup: str) -> tuple[list[ParsedCall], str] | None:
        """The calls in ``markup`` and the content beside them, or None if it does not parse."""

    def stream(self) -> ToolCallStream:
        """A parse of one answer, fed as its text arrives."""
        return ToolCallStream(self)

    def parse(self, text: str) -> ToolPiece:
        """The content and the calls of a whole answer."""
        stream = self.stream()
        first = stream.feed(text)
        last = stream.finish()
        return ToolPiece(first.content + last.content, first.calls + last.calls)


class ToolCallStream:
    """One answer's parse: content as soon as it cannot be markup, the calls at the end."""

    def __init__(self, parser: ToolParser) -> None:
        self._parser = parser
        self._text = ""
        self._sent = 0
        self._start: int | None = None

    def feed(self, text: str) -> ToolPiece:
        """Add the answer's next text; return the content that is decided."""
        self._text += text
        if self._start is not None:
            return ToolPiece()
        start = self._parser.find_start(self._text)
        if start is None:
            end = max(self._sent, len(self._text) - self._parser.undecided(self._text))
        else:
            self._start = end = start
        content, self._sent = self._text[self._sent : end], end
        return ToolPiece(content)

    def finish(self) -> ToolPiece:
        """The end of the answer: what was held back, and the calls."""
        rest = self._text[self._sent :]
        self._sent = len(self._text)
        if self._start is None:
            return ToolPiece(rest)
        parsed = self._parser.parse_markup(self._text[self._start :])
        if parsed is None:
            return ToolPiece(rest)
        calls, content = parsed
        return ToolPiece(content, calls)


def call_from_object(value: Any, arguments_key: str = "arguments") -> ParsedCall | None:
    """A call from ``{"name": ..., "arguments": {...}}`` (the key may differ), or None.

    Arguments given as JSON text of an object are taken too; anything but an object is not
    a call.
    """
    if not isinstance(value, dict) or not isinstance(value.get("name"), str):
        return None
    arguments = value.get(arguments_key, {})
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return None
    if not isinstance(arguments, dict):
        return None
    return ParsedCall(value["name"], json.dumps(arguments, ensure_ascii=False))

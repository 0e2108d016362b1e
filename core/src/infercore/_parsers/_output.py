"""One request's answers split into reasoning, content and tool calls, as the text streams."""

from __future__ import annotations

from dataclasses import dataclass, field

from infercore._parsers._reasoning import ReasoningParser, ReasoningStream
from infercore._parsers._tool import ParsedCall, ToolCallStream, ToolParser, ToolPiece

__all__ = ["ChoiceParser", "ChoicePiece", "OutputParsing"]


@dataclass
class ChoicePiece:
    content: str = ""
    reasoning: str = ""
    calls: list[ParsedCall] = field(default_factory=list)


@dataclass(frozen=True)
class OutputParsing:
    """How a request's answers are parsed: ``reasoning`` first, then ``tools`` in what is
    left; either may be None. ``single_call`` keeps only an answer's first call
    (``parallel_tool_calls=False``)."""

    prompt: str = ""
    reasoning: ReasoningParser | None = None
    tools: ToolParser | None = None
    single_call: bool = False

    def start(self) -> ChoiceParser:
        """The parse of one choice."""
        return ChoiceParser(self)


class ChoiceParser:
    """One choice's text in, its reasoning, content and calls out, each once decided."""

    def __init__(self, parsing: OutputParsing) -> None:
        self._reasoning: ReasoningStream | None = (
            parsing.reasoning.stream(parsing.prompt) if parsing.reasoning is not None else None
        )
        self._tools: ToolCallStream | None = (
            parsing.tools.stream() if parsing.tools is not None else None
        )
        self._single_call = parsing.single_call
        self.calls = 0

    def feed(self, text: str) -> ChoicePiece:
        if self._reasoning is None:
            return self._content(ChoicePiece(), text, final=False)
        split = self._reasoning.feed(text)
        return self._content(ChoicePiece(reasoning=split.reasoning), split.content, final=False)

    def finish(self) -> ChoicePiece:
        if self._reasoning is None:
            return self._content(ChoicePiece(), "", final=True)
        split = self._reasoning.finish()
        return self._content(ChoicePiece(reasoning=split.reasoning), split.content, final=True)

    def _content(self, piece: ChoicePiece, text: str, *, final: bool) -> ChoicePiece:
        if self._tools is None:
            piece.content = text
            return piece
        found = self._tools.feed(text)
        if final:
            last = self._tools.finish()
            found = ToolPiece(found.content + last.content, found.calls + last.calls)
        piece.content = found.content
        calls = found.calls
        if self._single_call:
            calls = calls[: max(0, 1 - self.calls)]
        piece.calls = calls
        self.calls += len(calls)
        return piece

"""The parsers an engine is started with, by name: checked before its model loads,
``auto`` settled from the model's chat template after."""

from __future__ import annotations

from infercore._parsers import ReasoningParser, ToolParser, choose_parser
from infercore._registry import BackendRegistry

__all__ = ["ParserNames"]


class ParserNames:
    """An engine's ``tool_call_parser`` and ``reasoning_parser``; a name no plugin
    registered is an :class:`~infercore.InvalidRequestError` at once."""

    def __init__(self, registry: BackendRegistry, tools: str | None, reasoning: str | None) -> None:
        self._registry = registry
        self._tools = tools
        self._reasoning = reasoning
        if tools not in (None, "auto"):
            choose_parser(registry.tool_parsers, tools, None, "tool_call_parser")
        if reasoning not in (None, "auto"):
            choose_parser(registry.reasoning_parsers, reasoning, None, "reasoning_parser")

    def tool_parser(self, template: str | None) -> tuple[str | None, ToolParser | None]:
        """The tool-call parser's name and parser, given the model's chat ``template``."""
        if self._tools is None:
            return None, None
        spec = choose_parser(self._registry.tool_parsers, self._tools, template, "tool_call_parser")
        return spec.name, spec.parser

    def reasoning_parser(self, template: str | None) -> tuple[str | None, ReasoningParser | None]:
        """The reasoning parser's name and parser, given the model's chat ``template``."""
        if self._reasoning is None:
            return None, None
        spec = choose_parser(
            self._registry.reasoning_parsers, self._reasoning, template, "reasoning_parser"
        )
        return spec.name, spec.parser

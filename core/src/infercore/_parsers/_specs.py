"""Parsers as plugins register them, and the choice of one by name or from a chat template."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

from infercore._errors import InvalidRequestError
from infercore._parsers._reasoning import ReasoningParser
from infercore._parsers._tool import ToolParser

__all__ = ["ReasoningParserSpec", "ToolParserSpec", "choose_parser"]

P = TypeVar("P", ToolParser, ReasoningParser)


@dataclass(frozen=True)
class _ParserSpec(Generic[P]):
    name: str
    parser: P
    description: str = ""
    #: Text that only a chat template of this format holds, for the name "auto".
    template_marker: str | None = None


@dataclass(frozen=True)
class ToolParserSpec(_ParserSpec[ToolParser]):
    """A tool-call format by name (``hermes``), as ``register_tool_parsers`` registers it."""


@dataclass(frozen=True)
class ReasoningParserSpec(_ParserSpec[ReasoningParser]):
    """A reasoning format by name (``qwen3``), as ``register_reasoning_parsers`` registers it."""


S = TypeVar("S", ToolParserSpec, ReasoningParserSpec)


def choose_parser(specs: Mapping[str, S], name: str, template: str | None, param: str) -> S:
    """The parser called ``name``; for ``"auto"``, the only one whose marker ``template``
    (the model's chat template) holds. :class:`InvalidRequestError` naming ``param``
    for a name not registered, or a template that does not settle it."""
    if name != "auto":
        if name not in specs:
            known = ", ".join(sorted(specs)) or "none"
            raise InvalidRequestError(
                f"unknown {param} {name!r}; installed: {known}, or auto", param=param
            )
        return specs[name]
    found = [
        spec
        for spec in specs.values()
        if spec.template_marker is not None and spec.template_marker in (template or "")
    ]
    if len(found) != 1:
        which = ", ".join(spec.name for spec in found) or "none of " + ", ".join(sorted(specs))
        raise InvalidRequestError(
            f"{param}='auto' cannot tell the format from this model's chat template "
            f"(it matches {which}); name the parser",
            param=param,
        )
    return found[0]

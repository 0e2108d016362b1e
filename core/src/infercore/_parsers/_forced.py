"""``tool_choice`` "required" or a named function: output constrained to calls, as JSON.

The answer is generated under :func:`forced_calls_schema` (as vLLM does: for "required" an
array of ``{"name", "parameters"}`` objects, for a named function its parameters object),
so it always parses into calls with :class:`ForcedCallsParser`.
"""

from __future__ import annotations

import json
from typing import Any

from infercore._parsers._tool import ParsedCall, ToolParser, call_from_object
from infercore._types import InferRequest, NamedToolChoice

__all__ = ["ForcedCallsParser", "forced_calls_schema"]


def _parameters(tool: dict[str, Any]) -> dict[str, Any]:
    # A function without parameters takes an empty object.
    parameters: dict[str, Any] = tool["function"].get("parameters") or {
        "type": "object",
        "properties": {},
    }
    return parameters


def forced_calls_schema(request: InferRequest) -> dict[str, Any] | None:
    """The JSON Schema the answer must follow for ``request.tool_choice``, or None when the
    choice leaves the model free ("auto", "none", unset)."""
    choice = request.tool_choice
    tools = request.tools or []
    if isinstance(choice, NamedToolChoice):
        (tool,) = (t for t in tools if t["function"]["name"] == choice.function.name)
        return _parameters(tool)
    if choice != "required":
        return None
    calls = [
        {
            "type": "object",
            "properties": {
                "name": {"type": "string", "enum": [tool["function"]["name"]]},
                "parameters": _parameters(tool),
            },
            "required": ["name", "parameters"],
        }
        for tool in tools
    ]
    schema: dict[str, Any] = {"type": "array", "minItems": 1, "items": {"anyOf": calls}}
    if request.parallel_tool_calls is False:
        schema["maxItems"] = 1
    return schema


class ForcedCallsParser(ToolParser):
    """The calls in an answer generated under :func:`forced_calls_schema`: the whole answer
    is the markup. ``function`` is the named function's name; None for "required"."""

    def __init__(self, function: str | None) -> None:
        self._function = function

    def find_start(self, text: str) -> int | None:
        return 0

    def undecided(self, text: str) -> int:
        return 0

    def parse_markup(self, markup: str) -> tuple[list[ParsedCall], str] | None:
        try:
            value = json.loads(markup)
        except ValueError:
            return None
        if self._function is not None:
            call = call_from_object({"name": self._function, "arguments": value})
            return None if call is None else ([call], "")
        if not isinstance(value, list) or not value:
            return None
        calls = [call_from_object(item, "parameters") for item in value]
        if any(call is None for call in calls):
            return None
        return [call for call in calls if call is not None], ""

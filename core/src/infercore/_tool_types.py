"""Tool calls on the OpenAI wire: the functions a request offers, how it lets the model
choose among them, and the calls in an answer, whole or in streamed pieces."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator

__all__ = [
    "DeltaFunctionCall",
    "DeltaToolCall",
    "FunctionCall",
    "FunctionName",
    "NamedToolChoice",
    "ToolCall",
    "ToolChoice",
    "ToolFields",
]


class FunctionCall(BaseModel):
    """A call's function: its name and its arguments as JSON text, as OpenAI sends them."""

    name: str
    arguments: str


class ToolCall(BaseModel):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class DeltaFunctionCall(BaseModel):
    name: str | None = None
    arguments: str | None = None


class DeltaToolCall(BaseModel):
    """A piece of a streamed tool call; clients join the pieces of one ``index``."""

    index: int
    id: str | None = None
    type: Literal["function"] | None = None
    function: DeltaFunctionCall


class FunctionName(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str


class NamedToolChoice(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["function"] = "function"
    function: FunctionName


#: ``none``: tools are neither shown to the model nor parsed; ``auto``: the model may call
#: them; ``required``: it must call one or more; a named function: it must call that one.
ToolChoice = Literal["none", "auto", "required"] | NamedToolChoice


class ToolFields(BaseModel):
    """The tool fields of a chat request, checked together: the request's and the
    ``/v1/chat/completions`` body's alike."""

    model_config = ConfigDict(extra="forbid")

    #: Function tools in OpenAI's shape; the model's chat template shows them to it.
    tools: list[dict[str, Any]] | None = None
    tool_choice: ToolChoice | None = None
    #: ``False``: at most one call per answer.
    parallel_tool_calls: bool | None = None

    @field_validator("tools")
    @classmethod
    def _function_tools(cls, tools: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
        for tool in tools or ():
            function = tool.get("function")
            if tool.get("type") != "function" or not isinstance(function, dict):
                raise ValueError('each tool is {"type": "function", "function": {...}}')
            if not isinstance(function.get("name"), str) or not function["name"]:
                raise ValueError("each tool's function needs a name")
            if not isinstance(function.get("parameters", {}), dict):
                raise ValueError("a function's parameters are a JSON Schema object")
        return tools

    @staticmethod
    def tool_choice_problem(
        choice: ToolChoice | None, tools: list[dict[str, Any]] | None
    ) -> str | None:
        """Why ``choice`` cannot be met with ``tools``, or None."""
        if choice is None or choice in ("none", "auto"):
            return None
        names = [tool["function"]["name"] for tool in tools or ()]
        if not names:
            return f"tool_choice {_shown(choice)} needs tools"
        if isinstance(choice, NamedToolChoice) and choice.function.name not in names:
            return f"tool_choice names {choice.function.name!r}, which is not in tools"
        return None


def _shown(choice: ToolChoice) -> str:
    return repr(choice) if isinstance(choice, str) else f"function {choice.function.name!r}"

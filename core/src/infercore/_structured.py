"""Structured output: the one constraint a request puts on the text of its answer.

A :class:`~infercore.RequestConfig` asks for it in one of four ways (OpenAI's
``response_format``, or ``json_schema``, ``regex`` or ``choice``); the engine
turns that into one :class:`StructuredOutput`, checked here before any backend
sees it, and hands it to the backend in :class:`~infercore.SamplingParams`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

import jsonschema

from infercore._errors import InvalidRequestError
from infercore._types import JSONObjectResponseFormat, JSONSchemaResponseFormat, RequestConfig

__all__ = [
    "ReasoningTags",
    "StructuredKind",
    "StructuredOutput",
    "schema_output",
    "structured_output",
]

#: ``json_schema``: the text is one JSON value valid under the schema; ``regex``: the
#: text matches the pattern in full; ``choice``: the text is exactly one of the choices.
StructuredKind = Literal["json_schema", "regex", "choice"]

#: What ``{"type": "json_object"}`` asks for: any JSON object.
_ANY_OBJECT: dict[str, Any] = {"type": "object"}


#: The most blank characters in a row that JSON after reasoning may hold: a model may
#: otherwise sample blank space without end.
_JSON_BLANKS = 1


@dataclass(frozen=True)
class ReasoningTags:
    """Where a reasoning model's thinking lies in its answer: between ``start`` and
    ``end``; ``opened``: the answer begins inside it (its template opened it)."""

    start: str
    end: str
    opened: bool


@dataclass(frozen=True)
class StructuredOutput:
    """One constraint on a sequence's text, as a small hashable value.

    ``spec`` is the schema as JSON text, its keys in the order given (an answer
    writes an object's properties in the schema's order; equal schemas are equal
    values, so a backend may cache what it compiles under it), the pattern, or
    the choices as a JSON list. ``param`` names the request field it
    came from, for the backend's refusals; it takes no part in equality.

    ``reasoning`` is set where the engine parses a reasoning model's thinking: the
    constraint then holds for the answer after the thinking, which is free text, and
    the backend compiles :meth:`structural_tag` instead of the constraint alone.
    """

    kind: StructuredKind
    spec: str
    param: str = field(default="json_schema", compare=False)
    reasoning: ReasoningTags | None = None

    @property
    def schema(self) -> dict[str, Any]:
        """The JSON schema of a ``json_schema`` constraint."""
        if self.kind != "json_schema":
            raise ValueError(f"a {self.kind} constraint has no schema")
        value: dict[str, Any] = json.loads(self.spec)
        return value

    @property
    def choices(self) -> list[str]:
        """The alternatives of a ``choice`` constraint."""
        if self.kind != "choice":
            raise ValueError(f"a {self.kind} constraint has no choices")
        value: list[str] = json.loads(self.spec)
        return value

    def structural_tag(self) -> dict[str, Any]:
        """The whole answer, thinking then the constrained text, as a structural tag: the
        format vLLM's ``structural_tag`` and xgrammar's ``compile_structural_tag`` take.

        Thinking the template opened must end (with ``end``) before the answer; where it
        did not, the answer may open it with ``start`` or begin at once. Up to two blank
        characters may separate the thinking from the answer, as templates write them.
        """
        if self.reasoning is None:
            raise ValueError("a constraint without reasoning is compiled as it is")
        start, end = self.reasoning.start, self.reasoning.end
        thinking: dict[str, Any] = {"type": "any_text", "excludes": [end]}
        if self.reasoning.opened:
            head: dict[str, Any] = {
                "type": "sequence",
                "elements": [thinking, {"type": "const_string", "value": end}],
            }
        else:
            head = {
                "type": "optional",
                "content": {"type": "tag", "begin": start, "content": thinking, "end": end},
            }
        blank = {"type": "regex", "pattern": r"\s{0,2}"}
        return {
            "type": "structural_tag",
            "format": {"type": "sequence", "elements": [head, blank, self._answer_format()]},
        }

    def _answer_format(self) -> dict[str, Any]:
        if self.kind == "json_schema":
            return {
                "type": "json_schema",
                "json_schema": self.schema,
                "max_whitespace_cnt": _JSON_BLANKS,
            }
        if self.kind == "regex":
            return {"type": "regex", "pattern": self.spec}
        return {
            "type": "or",
            "elements": [{"type": "const_string", "value": value} for value in self.choices],
        }


def schema_output(schema: dict[str, Any], param: str) -> StructuredOutput:
    """A ``json_schema`` constraint from the request field ``param``, once ``schema`` is a
    valid JSON Schema."""
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(part) for part in exc.absolute_path) or "the top level"
        raise InvalidRequestError(
            f"{param} is not a valid JSON Schema (at {where}): {exc.message}", param=param
        ) from None
    return StructuredOutput("json_schema", json.dumps(schema), param)


def structured_output(config: RequestConfig) -> StructuredOutput | None:
    """The constraint ``config`` asks for, or ``None``; an invalid schema is refused here.

    ``RequestConfig`` already allows at most one way of asking.
    """
    response_format = config.response_format
    if isinstance(response_format, JSONObjectResponseFormat):
        return StructuredOutput("json_schema", json.dumps(_ANY_OBJECT), "response_format")
    if isinstance(response_format, JSONSchemaResponseFormat):
        schema = response_format.json_schema.schema_ or _ANY_OBJECT
        return schema_output(schema, "response_format")
    if config.json_schema is not None:
        return schema_output(config.json_schema, "json_schema")
    if config.regex is not None:
        return StructuredOutput("regex", config.regex, "regex")
    if config.choice is not None:
        return StructuredOutput("choice", json.dumps(config.choice), "choice")
    return None

"""Structured output on the OpenAI wire: the ``response_format`` shapes a request may
give, re-exported by ``_types``."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "JSONObjectResponseFormat",
    "JSONSchemaFormat",
    "JSONSchemaResponseFormat",
    "ResponseFormat",
    "TextResponseFormat",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TextResponseFormat(_Model):
    """Plain text: no constraint."""

    type: Literal["text"] = "text"


class JSONObjectResponseFormat(_Model):
    """Any JSON object."""

    type: Literal["json_object"] = "json_object"


class JSONSchemaFormat(_Model):
    """A named JSON schema that the answer must follow (OpenAI's ``json_schema`` object).

    The schema is ``schema`` on the wire; in Python it is ``schema_``, since
    pydantic models own a ``schema`` attribute. No schema means any JSON object.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    description: str | None = None
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    #: The answer always follows the schema, strict or not: the flag is accepted as it is.
    strict: bool | None = None


class JSONSchemaResponseFormat(_Model):
    """A JSON value valid under ``json_schema.schema``."""

    type: Literal["json_schema"] = "json_schema"
    json_schema: JSONSchemaFormat


ResponseFormat = Annotated[
    TextResponseFormat | JSONObjectResponseFormat | JSONSchemaResponseFormat,
    Field(discriminator="type"),
]

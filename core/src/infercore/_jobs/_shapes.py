"""One dataset record as one request: the row shapes that datasets are written in.

A record is an object in one of these shapes, told apart by which of ``messages``,
``instruction`` and ``query`` it has (exactly one; a record with two is refused):

- ``messages``: ms-swift's form, and OpenAI chat request bodies. Roles system,
  developer, user, assistant and tool; content a string or content parts.
- ``instruction``: alpaca. ``input``, when not empty, follows the instruction on a
  new line; ``output`` is the reference answer.
- ``query``: query/response. ``response`` is the reference answer.

Alpaca and query/response rows may carry ``history``: earlier ``[query, response]``
turns. A numeric ``output`` or ``response`` is taken as its text.

Every shape may carry ``system`` (a system prompt, put first; a conversation that
already has a different system message is refused), ``images``, ``videos`` and
``audios`` (a list, or one item: strings, or ``{"path": ...}`` / ``{"bytes": ...}``
objects) for the ``<image>``, ``<video>`` and ``<audio>`` tags in the text, and
``tools`` (a list, or that list as a JSON string). When the last message is the
assistant's, its text is the reference answer (``labels``) and it is not sent.

A top-level null is the same as a missing field: column files fill a row's missing
fields with nulls. In messages, null keys are dropped for the same reason, and so is
ms-swift's ``loss`` (a training weight).

Strictness: a record that carries ``model`` or any generation setting (a
:class:`RequestConfig` field, or ``max_completion_tokens``) is read as an OpenAI
request body. Its settings are validated and kept in :attr:`DatasetRow.settings`;
``model``, ``stream`` and ``stream_options`` (the job decides them) and ``user``
are ignored; any other field that is neither its shape's own, nor one of the bookkeeping
columns in :data:`DATA_COLUMNS`, is refused by name. A record with no settings is a
data row: fields besides its shape's are data columns and are ignored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from infercore._errors import InvalidRequestError
from infercore._jobs._read import UnreadableRecord, data_uri
from infercore._types import ChatMessage, InferRequest, RequestConfig, TextContent
from infercore._validation import validation_problems

__all__ = ["DATA_COLUMNS", "DatasetRow", "to_row"]

#: Columns that a request body row may carry besides its request: they are ignored.
DATA_COLUMNS = frozenset({"id", "uid", "category", "source", "task", "tags", "metadata"})

_SHAPES = ("messages", "instruction", "query")
_SHAPE_FIELDS = {
    "messages": frozenset({"messages"}),
    "instruction": frozenset({"instruction", "input", "output", "history"}),
    "query": frozenset({"query", "response", "history"}),
}
_COMMON_FIELDS = frozenset({"system", "images", "videos", "audios", "tools"})
_MEDIA = ("images", "videos", "audios")
# A job chooses the model and whether it streams; user only names the caller.
_IGNORED = frozenset({"model", "stream", "stream_options", "user"})
_SETTINGS = frozenset(RequestConfig.model_fields) - _IGNORED
_BODY_MARKS = _SETTINGS | {"model", "max_completion_tokens"}
_SYSTEM_ROLES = ("system", "developer")


@dataclass(frozen=True)
class DatasetRow:
    """One dataset record, ready to run: its request, its reference answer, its settings."""

    index: int
    request: InferRequest
    #: The reference answer, written beside the result; never sent to the model.
    labels: str | None
    #: The record's own generation settings (RequestConfig fields), usually none.
    settings: dict[str, Any]


def to_row(index: int, record: Any) -> DatasetRow:
    """The row for record ``index``; :class:`InvalidRequestError` for one of no known shape."""
    if isinstance(record, UnreadableRecord):
        raise InvalidRequestError(record.message)
    if not isinstance(record, Mapping):
        raise InvalidRequestError(
            f"row {index} is a JSON {type(record).__name__}, not an object: each row must be "
            "an object with messages, instruction or query"
        )
    fields: dict[str, Any] = {key: value for key, value in record.items() if value is not None}
    shape = _shape(index, fields)
    settings: dict[str, Any] = {}
    if _BODY_MARKS & fields.keys():
        _refuse_unknown(index, fields, _SHAPE_FIELDS[shape])
        settings = _settings(index, fields)
    labels: str | None
    if shape == "messages":
        request = _request(index, _cleaned(fields["messages"]), fields)
        messages, labels = _label_off(request.messages or [])
    else:
        request = _request(index, _turns(index, fields, shape), fields)
        messages = request.messages or []
        labels = _text(index, fields, "output" if shape == "instruction" else "response")
    messages = _with_system(index, messages, _text(index, fields, "system"))
    if all(message.role in _SYSTEM_ROLES for message in messages):
        raise InvalidRequestError(
            f"row {index} has nothing to answer: no message but system ones once the "
            "last assistant message is taken off as the reference answer",
            param="messages",
        )
    return DatasetRow(index, request.model_copy(update={"messages": messages}), labels, settings)


def _shape(index: int, fields: Mapping[str, Any]) -> str:
    shapes = [name for name in _SHAPES if name in fields]
    if not shapes:
        columns = ", ".join(sorted(fields)) or "none"
        raise InvalidRequestError(
            f"row {index} has no known shape: give messages (chat), instruction (alpaca) "
            f"or query (query/response); its columns are: {columns}",
            param="messages",
        )
    if len(shapes) > 1:
        raise InvalidRequestError(
            f"row {index} has both {shapes[0]} and {shapes[1]}; give one of them",
            param=shapes[1],
        )
    return shapes[0]


def _refuse_unknown(index: int, fields: Mapping[str, Any], own: frozenset[str]) -> None:
    allowed = own | _COMMON_FIELDS | _BODY_MARKS | _IGNORED | DATA_COLUMNS
    for name in fields:
        if name not in allowed:
            raise InvalidRequestError(
                f"row {index}: {name} is not a field infercore takes in a request body row "
                "(one with model or generation settings); leave it out",
                param=name,
            )


def _settings(index: int, fields: Mapping[str, Any]) -> dict[str, Any]:
    given = {name: fields[name] for name in _SETTINGS if name in fields}
    aliases: dict[str, str] = {}
    if "max_completion_tokens" in fields:
        tokens = fields["max_completion_tokens"]
        if given.get("max_tokens", tokens) != tokens:
            raise InvalidRequestError(
                f"row {index}: max_tokens and max_completion_tokens disagree; give one of them",
                param="max_completion_tokens",
            )
        given["max_tokens"] = tokens
        aliases["max_tokens"] = "max_completion_tokens"
    try:
        config = RequestConfig.model_validate(given)
    except ValidationError as exc:
        raise _invalid(index, exc, "settings", aliases) from exc
    return config.model_dump(include=set(given))


def _invalid(
    index: int, exc: ValidationError, whole: str, aliases: Mapping[str, str] = {}
) -> InvalidRequestError:
    param, problems = validation_problems(exc, whole, aliases)
    return InvalidRequestError(f"row {index}: {'; '.join(problems)}", param=param)


def _without_nulls(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


def _cleaned(messages: Any) -> Any:
    if not isinstance(messages, list):
        return messages  # the request's validation names the problem
    cleaned = [_without_nulls(message) for message in messages]
    for message in cleaned:
        if isinstance(message, dict):
            message.pop("loss", None)
    return cleaned


def _label_off(messages: list[ChatMessage]) -> tuple[list[ChatMessage], str | None]:
    """The messages to send, and the text of a last assistant message taken off them."""
    if not messages or messages[-1].role != "assistant":
        return messages, None
    content = messages[-1].content
    if isinstance(content, list):
        texts = [part.text for part in content if isinstance(part, TextContent)]
        content = "".join(texts) if texts else None
    return messages[:-1], content


def _text(index: int, fields: Mapping[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if value is None or isinstance(value, str):
        return value
    # Reference answers of maths sets are often numbers.
    numeric = isinstance(value, int | float) and not isinstance(value, bool)
    if numeric and name in ("output", "response"):
        return str(value)
    raise InvalidRequestError(
        f"row {index}: {name} must be text, not a JSON {type(value).__name__}", param=name
    )


def _turns(index: int, fields: Mapping[str, Any], shape: str) -> list[dict[str, Any]]:
    """The conversation of an alpaca or query/response row, without its answer."""
    if shape == "instruction":
        parts = (_text(index, fields, "instruction"), _text(index, fields, "input"))
        query = "\n".join(part for part in parts if part)
    else:
        query = _text(index, fields, "query") or ""
    if not query.strip():
        raise InvalidRequestError(f"row {index}: {shape} is empty", param=shape)
    history = fields.get("history", [])
    if not isinstance(history, list):
        raise InvalidRequestError(
            f"row {index}: history must be a list of [query, response] pairs", param="history"
        )
    messages: list[dict[str, Any]] = []
    for turn, pair in enumerate(history):
        if not (
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(t, str) for t in pair)
        ):
            raise InvalidRequestError(
                f"row {index}: history.{turn} must be a [query, response] pair of texts",
                param=f"history.{turn}",
            )
        messages.append({"role": "user", "content": pair[0]})
        messages.append({"role": "assistant", "content": pair[1]})
    messages.append({"role": "user", "content": query})
    return messages


def _media(index: int, fields: Mapping[str, Any], name: str) -> list[str]:
    value = fields.get(name, [])
    items = value if isinstance(value, list) else [value]
    sources: list[str] = []
    for position, item in enumerate(items):
        # ms-swift's object form: the bytes (or their base64 text) win over the path.
        if isinstance(item, Mapping):
            item = item.get("bytes") or item.get("path")
        if isinstance(item, bytes):
            item = data_uri(item)
        if not (isinstance(item, str) and item):
            raise InvalidRequestError(
                f"row {index}: {name}.{position} must be a path, URL, data URI or base64 "
                'text, or an object with "path" or "bytes"',
                param=f"{name}.{position}",
            )
        sources.append(item)
    return sources


def _request(index: int, messages: Any, fields: Mapping[str, Any]) -> InferRequest:
    tools = fields.get("tools")
    if isinstance(tools, str):  # ms-swift keeps tools as JSON text: a column has one type
        try:
            tools = json.loads(tools)
        except ValueError as exc:
            raise InvalidRequestError(
                f"row {index}: tools is text but not JSON ({exc})", param="tools"
            ) from exc
    values = {"messages": messages, "tools": tools}
    values.update({name: _media(index, fields, name) for name in _MEDIA})
    try:
        return InferRequest.model_validate(values)
    except ValidationError as exc:
        raise _invalid(index, exc, "row") from exc


def _with_system(index: int, messages: list[ChatMessage], system: str | None) -> list[ChatMessage]:
    if not system:
        return messages
    present = [message for message in messages if message.role in _SYSTEM_ROLES]
    if not present:
        return [ChatMessage(role="system", content=system), *messages]
    if any(message.content != system for message in present):
        raise InvalidRequestError(
            f"row {index} gives system and a different system message; keep one of them",
            param="system",
        )
    return messages

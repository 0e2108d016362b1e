"""The built-in tool-call formats, named as vLLM names their parsers."""

from __future__ import annotations

import json
from typing import Any

from infercore._parsers._tool import ParsedCall, ToolParser, call_from_object

__all__ = ["HermesParser", "Llama3JsonParser", "MistralParser", "prefix_tail"]

_DECODER = json.JSONDecoder()


def prefix_tail(text: str, token: str) -> int:
    """The length of the longest tail of ``text`` that is a proper prefix of ``token``."""
    for size in range(min(len(token) - 1, len(text)), 0, -1):
        if token.startswith(text[-size:]):
            return size
    return 0


def _decode(text: str, position: int) -> tuple[Any, int] | None:
    """The JSON value at ``position`` (after whitespace) and where it ends, or None."""
    while position < len(text) and text[position].isspace():
        position += 1
    try:
        return _DECODER.raw_decode(text, position)
    except ValueError:
        return None


class _TokenParser(ToolParser):
    """A format whose calls begin with a marker token anywhere in the answer."""

    token: str

    def find_start(self, text: str) -> int | None:
        found = text.find(self.token)
        return None if found < 0 else found

    def undecided(self, text: str) -> int:
        return prefix_tail(text, self.token)


class HermesParser(_TokenParser):
    """Hermes and Qwen: ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``, once
    per call; the closing tag of the last call may be missing where generation stopped."""

    token = "<tool_call>"
    close = "</tool_call>"

    def parse_markup(self, markup: str) -> tuple[list[ParsedCall], str] | None:
        calls: list[ParsedCall] = []
        content: list[str] = []
        position = 0
        while (opened := markup.find(self.token, position)) >= 0:
            content.append(markup[position:opened])
            body_start = opened + len(self.token)
            closed = markup.find(self.close, body_start)
            body = markup[body_start : closed if closed >= 0 else len(markup)]
            try:
                call = call_from_object(json.loads(body))
            except ValueError:
                return None
            if call is None:
                return None
            calls.append(call)
            position = len(markup) if closed < 0 else closed + len(self.close)
        content.append(markup[position:])
        return calls, "".join(content).strip()


class Llama3JsonParser(ToolParser):
    """Llama 3.1 to 3.3's JSON calls: the answer is ``{"name": ..., "parameters": {...}}``
    (after an optional ``<|python_tag|>``), several separated by ``;``."""

    tag = "<|python_tag|>"

    def find_start(self, text: str) -> int | None:
        stripped = text.lstrip()
        if stripped.startswith(self.tag) or stripped.startswith("{"):
            return len(text) - len(stripped)
        return None

    def undecided(self, text: str) -> int:
        # Calls open the answer: while it is blank or the start of the tag, it is undecided.
        return len(text) if self.tag.startswith(text.lstrip()) else 0

    def parse_markup(self, markup: str) -> tuple[list[ParsedCall], str] | None:
        text = markup.removeprefix(self.tag)
        calls: list[ParsedCall] = []
        position = 0
        while True:
            decoded = _decode(text, position)
            if decoded is None:
                return None
            value, position = decoded
            # Llama writes "parameters"; some fine-tunes write "arguments".
            key = "parameters" if isinstance(value, dict) and "parameters" in value else "arguments"
            call = call_from_object(value, key)
            if call is None:
                return None
            calls.append(call)
            rest = text[position:].lstrip()
            if not rest.startswith(";"):
                return calls, rest
            position = len(text) - len(rest) + 1


class MistralParser(_TokenParser):
    """Mistral: ``[TOOL_CALLS][{"name": ..., "arguments": {...}}, ...]``, or in the newer
    tokenizers' form ``[TOOL_CALLS]name[ARGS]{...}`` once per call."""

    token = "[TOOL_CALLS]"
    args = "[ARGS]"

    def parse_markup(self, markup: str) -> tuple[list[ParsedCall], str] | None:
        text = markup[len(self.token) :]
        if text.lstrip().startswith("["):
            decoded = _decode(text, 0)
            if decoded is None or not isinstance(decoded[0], list) or not decoded[0]:
                return None
            calls = [call_from_object(item) for item in decoded[0]]
            if any(call is None for call in calls):
                return None
            return [call for call in calls if call is not None], text[decoded[1] :].strip()
        return self._named_calls(markup)

    def _named_calls(self, markup: str) -> tuple[list[ParsedCall], str] | None:
        calls: list[ParsedCall] = []
        position = 0
        while markup.startswith(self.token, position):
            name_start = position + len(self.token)
            name_end = markup.find(self.args, name_start)
            if name_end < 0:
                return None
            decoded = _decode(markup, name_end + len(self.args))
            if decoded is None or not isinstance(decoded[0], dict):
                return None
            name = markup[name_start:name_end].strip()
            if not name:
                return None
            calls.append(ParsedCall(name, json.dumps(decoded[0], ensure_ascii=False)))
            position = decoded[1]
            while position < len(markup) and markup[position].isspace():
                position += 1
        return calls, markup[position:].strip()

"""Rendering a conversation with the model's own chat template."""

from __future__ import annotations

import json
from typing import Any

from infercore._backend import Tokenizer
from infercore._errors import InvalidRequestError
from infercore._types import InferRequest

__all__ = ["render_prompt"]


def render_prompt(
    renderer: Tokenizer, request: InferRequest, conversation: list[dict[str, Any]]
) -> str:
    """The prompt text for ``request``, ending where the assistant's reply begins.

    ``conversation`` is the request's messages as the template takes them
    (see :func:`infercore._multimodal.plan_media`); ``renderer`` is the
    tokenizer, or the processor where there are media. A raw ``prompt`` is
    returned as it is. A conversation whose last message is the assistant's is
    continued rather than answered anew, as vLLM's ``continue_final_message``
    does. The request's tools go to the template unless ``tool_choice`` is "none"; the
    arguments of earlier calls go as objects, which is what templates index into.
    """
    if request.prompt is not None:
        return request.prompt
    assert request.messages is not None
    continue_final = request.messages[-1].role == "assistant"
    kwargs: dict[str, Any] = {
        "tokenize": False,
        "add_generation_prompt": not continue_final,
        "continue_final_message": continue_final,
    }
    if request.tools is not None and request.tool_choice != "none":
        kwargs["tools"] = request.tools
    try:
        prompt = renderer.apply_chat_template(_for_template(conversation), **kwargs)
    except Exception as exc:
        # Templates raise on conversations they do not accept (a system
        # message where none is allowed, roles out of order): the request is
        # at fault, not the engine.
        raise InvalidRequestError(
            f"the chat template refused the messages: {exc}", "messages"
        ) from exc
    if not isinstance(prompt, str):
        raise TypeError(f"apply_chat_template returned {type(prompt).__name__}, not str")
    return prompt


def _for_template(conversation: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``conversation`` as templates read it: each earlier call's arguments as an object
    (OpenAI sends JSON text; arguments that are not JSON are refused, naming the
    messages), and earlier reasoning as ``reasoning_content``."""
    rendered = []
    for message in conversation:
        calls = message.get("tool_calls")
        if calls:
            message = {**message, "tool_calls": [_argument_object(call) for call in calls]}
        if "reasoning" in message:
            message = {**message, "reasoning_content": message["reasoning"]}
        rendered.append(message)
    return rendered


def _argument_object(call: dict[str, Any]) -> dict[str, Any]:
    function = call["function"]
    try:
        arguments = json.loads(function["arguments"])
    except ValueError as exc:
        raise InvalidRequestError(
            f"the arguments of tool call {call['id']!r} are not JSON: {exc}", "messages"
        ) from exc
    return {**call, "function": {**function, "arguments": arguments}}

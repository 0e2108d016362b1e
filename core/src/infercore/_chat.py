"""Rendering a conversation with the model's own chat template."""

from __future__ import annotations

from typing import Any

from infercore._backend import Tokenizer
from infercore._errors import InvalidRequestError
from infercore._types import ChatMessage, InferRequest, TextContent

__all__ = ["render_prompt"]


def _as_template_message(message: ChatMessage) -> dict[str, Any]:
    if isinstance(message.content, list):
        parts = message.content
        if any(not isinstance(part, TextContent) for part in parts):
            raise InvalidRequestError(
                "this backend takes text only; the message has an image, video or audio part",
                param="messages",
            )
        # Text-only templates expect a string; joining the parts is what the
        # OpenAI API does for a list of text parts.
        content: str | None = "\n".join(
            part.text for part in parts if isinstance(part, TextContent)
        )
    else:
        content = message.content
    rendered = message.model_dump(exclude_none=True, exclude={"content"})
    rendered["content"] = content if content is not None else ""
    return rendered


def render_prompt(tokenizer: Tokenizer, request: InferRequest) -> str:
    """The prompt text for ``request``, ending where the assistant's reply begins.

    A raw ``prompt`` is returned as it is.

    A conversation whose last message is the assistant's is continued rather
    than answered anew, as vLLM's ``continue_final_message`` does.
    """
    if request.images or request.videos or request.audios:
        raise InvalidRequestError(
            "this backend takes text only; the request lists images, videos or audios",
            param="images",
        )
    if request.prompt is not None:
        return request.prompt
    assert request.messages is not None
    conversation = [_as_template_message(message) for message in request.messages]
    continue_final = request.messages[-1].role == "assistant"
    kwargs: dict[str, Any] = {
        "tokenize": False,
        "add_generation_prompt": not continue_final,
        "continue_final_message": continue_final,
    }
    if request.tools is not None:
        kwargs["tools"] = request.tools
    try:
        prompt = tokenizer.apply_chat_template(conversation, **kwargs)
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

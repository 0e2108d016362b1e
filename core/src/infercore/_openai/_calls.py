"""The client's half: infercore's requests as OpenAI request bodies, and OpenAI answers as
infercore's responses.

A chat request goes to ``/chat/completions`` and its answer parses straight
into :class:`ChatCompletionResponse` / :class:`ChatCompletionChunk`. A raw
prompt (``InferRequest(prompt=...)``) goes to ``/completions``, and its
``text_completion`` answer is converted to the same chat-shaped types that
``Engine`` returns for a raw prompt: ``choices[i].text`` becomes the message
(or delta) content, and the completions logprobs (``tokens``,
``token_logprobs``, ``top_logprobs`` as dicts) become the chat ``content``
list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import ValidationError

from infercore._errors import EngineError, InvalidRequestError, ModelNotFoundError
from infercore._types import (
    AssistantMessage,
    ChatCompletionChunk,
    ChatCompletionResponse,
    Choice,
    ChoiceLogprobs,
    ChunkChoice,
    DeltaMessage,
    InferRequest,
    RequestConfig,
    TokenLogprob,
    TopLogprob,
    Usage,
)

__all__ = [
    "WireCall",
    "api_root",
    "first_model",
    "model_ids",
    "parse_chunk",
    "parse_response",
    "wire_call",
]


def api_root(base_url: str) -> str:
    """The URL that ``/models`` and ``/chat/completions`` hang off.

    ``http://host:8000``, ``http://host:8000/`` and ``http://host:8000/v1``
    all give ``http://host:8000/v1``: users paste either form, since the
    OpenAI client wants the ``/v1`` and vLLM's tools want the bare server.
    """
    parts = urlsplit(base_url.strip())
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise InvalidRequestError(
            f"base URL {base_url!r} is not an http(s) URL such as http://127.0.0.1:8000/v1",
            param="base_url",
        )
    path = parts.path.rstrip("/")
    if not path.endswith("/v1"):
        path += "/v1"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


# Managed per call: streaming is chosen by the method, usage by the stats.
_MANAGED = {"stream", "stream_options"}


@dataclass(frozen=True)
class WireCall:
    """One HTTP call: where it goes, what it sends, and how to read the answer."""

    path: str  # below the API root: "/chat/completions" or "/completions"
    body: dict[str, Any]
    chat: bool
    choices: int
    stream: bool
    # The caller asked for the usage chunk; else it is only requested for stats.
    user_wants_usage: bool
    # How many alternatives a token's logprobs list (the completions API adds the sampled one).
    top_logprobs: int = 0


def wire_call(
    request: InferRequest, config: RequestConfig, model: str, *, want_usage: bool
) -> WireCall:
    """The body for ``request`` under ``config``: only the settings the caller set are sent.

    ``model`` is the served model to ask, unless the request names an adapter.

    Unset settings stay out of the body so that the server's own defaults
    (``infercore deploy --temperature ...``) apply, as they would for any
    OpenAI client. ``want_usage`` asks a stream for its usage chunk.
    """
    settings = config.model_dump(mode="json", exclude_unset=True, exclude_none=True)
    for name in _MANAGED:
        settings.pop(name, None)
    # A server names each LoRA adapter as a model of its own (``deploy --adapters``).
    body: dict[str, Any] = {"model": request.adapter or model}
    if request.prompt is not None:
        path, chat = "/completions", False
        body["prompt"] = request.prompt
        # The completions API's logprobs is the number of top logprobs, not a flag.
        if settings.pop("logprobs", False):
            body["logprobs"] = settings.pop("top_logprobs", 0)
        settings.pop("top_logprobs", None)
    else:
        path, chat = "/chat/completions", True
        assert request.messages is not None
        body["messages"] = [m.model_dump(mode="json", exclude_none=True) for m in request.messages]
        body.update(
            request.model_dump(
                mode="json",
                include={"tools", "tool_choice", "parallel_tool_calls"},
                exclude_none=True,
            )
        )
    # infercore's tag form (``<image>`` in the text); only servers that know it take these.
    for name in ("images", "videos", "audios"):
        if getattr(request, name):
            body[name] = getattr(request, name)
    body.update(settings)
    user_wants_usage = bool(config.stream_options and config.stream_options.include_usage)
    body["stream"] = config.stream
    if config.stream and (want_usage or user_wants_usage):
        body["stream_options"] = {"include_usage": True}
    top = config.top_logprobs or 0
    return WireCall(path, body, chat, config.n, config.stream, user_wants_usage, top)


def _bad_answer(what: str, error: Exception) -> EngineError:
    return EngineError(f"the server's answer is not a valid OpenAI {what}: {error}")


def parse_response(call: WireCall, payload: Any) -> ChatCompletionResponse:
    """A non-streamed answer as a chat completion."""
    try:
        if call.chat:
            return ChatCompletionResponse.model_validate(payload)
        return ChatCompletionResponse(
            id=payload["id"],
            created=payload["created"],
            model=payload["model"],
            choices=[
                Choice(
                    index=choice["index"],
                    message=AssistantMessage(content=choice["text"]),
                    logprobs=_chat_logprobs(choice.get("logprobs"), call.top_logprobs),
                    finish_reason=choice["finish_reason"],
                )
                for choice in payload["choices"]
            ],
            usage=Usage.model_validate(payload["usage"]),
        )
    except (ValidationError, KeyError, TypeError, AttributeError) as exc:
        raise _bad_answer("completion", exc) from exc


def parse_chunk(call: WireCall, payload: Any) -> ChatCompletionChunk:
    """One streamed event as a chat completion chunk."""
    try:
        if call.chat:
            return ChatCompletionChunk.model_validate(payload)
        usage = payload.get("usage")
        return ChatCompletionChunk(
            id=payload["id"],
            created=payload["created"],
            model=payload["model"],
            choices=[
                ChunkChoice(
                    index=choice["index"],
                    delta=DeltaMessage(content=choice.get("text") or None),
                    logprobs=_chat_logprobs(choice.get("logprobs"), call.top_logprobs),
                    finish_reason=choice.get("finish_reason"),
                )
                for choice in payload.get("choices") or ()
            ],
            usage=Usage.model_validate(usage) if usage else None,
        )
    except (ValidationError, KeyError, TypeError, AttributeError) as exc:
        raise _bad_answer("completion chunk", exc) from exc


def _chat_logprobs(logprobs: Any, top_count: int) -> ChoiceLogprobs | None:
    """The completions API's logprobs in the chat API's shape.

    Its ``top_logprobs`` dicts also hold the sampled token when that is not
    among the best; the chat shape lists only the ``top_count`` best.
    """
    if logprobs is None:
        return None
    tops = logprobs.get("top_logprobs") or [None] * len(logprobs["tokens"])
    content = [
        TokenLogprob(
            token=token,
            logprob=logprob,
            bytes=list(token.encode()),
            top_logprobs=[
                TopLogprob(token=text, logprob=value, bytes=list(text.encode()))
                for text, value in sorted((top or {}).items(), key=lambda kv: -kv[1])[:top_count]
            ],
        )
        for token, logprob, top in zip(
            logprobs["tokens"], logprobs["token_logprobs"], tops, strict=True
        )
    ]
    return ChoiceLogprobs(content=content)


def model_ids(payload: Any) -> list[str]:
    """The model ids of a ``GET /v1/models`` answer."""
    try:
        return [str(entry["id"]) for entry in payload["data"]]
    except (KeyError, TypeError) as exc:
        raise EngineError(f"the server's model list is not in the OpenAI shape: {exc!r}") from exc


def first_model(models: list[str], url: str) -> str:
    """The first served model, the one a client asks when it names none."""
    if not models:
        raise ModelNotFoundError(f"the server at {url} serves no model")
    return models[0]

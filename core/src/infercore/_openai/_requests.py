"""The request bodies of ``/v1/chat/completions`` and ``/v1/completions``.

Both extend :class:`infercore.RequestConfig`, so the sampling fields have the
same names and bounds as the engine's and are validated once, when the body
is parsed (``response_format`` among them, for structured output). A field
this server cannot honour is refused with a 400 that names it, never ignored:
OpenAI fields such as ``functions`` are accepted only with values that ask for
nothing; a field OpenAI does not define is refused as unrecognized. ``user``
(and the like) are accepted and ignored, as the OpenAI API itself does.
"""

from __future__ import annotations

import reprlib
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar, Self, TypeVar

from pydantic import ConfigDict, Field, ValidationError, model_validator

from infercore._errors import InvalidRequestError
from infercore._openai._errors import APIError, from_validation_error
from infercore._types import ChatMessage, InferRequest, RequestConfig, StreamOptions, ToolFields

T = TypeVar("T")

__all__ = ["ChatCompletionRequest", "CompletionRequest", "GenerationBody"]

_CONFIG_FIELDS = tuple(RequestConfig.model_fields)
_USAGE = StreamOptions(include_usage=True)

# OpenAI fields this server cannot honour, each with the values that ask for
# nothing (and so are accepted).
_CHAT_NO_OPS: dict[str, tuple[Any, ...]] = {
    "functions": (None, []),
    "function_call": (None, "none", "auto"),
    "logit_bias": (None, {}),
    "modalities": (None, ["text"]),
    "audio": (None,),
    "prediction": (None,),
    "reasoning_effort": (None,),
    "service_tier": (None, "auto", "default"),
    "store": (None, False),
    "metadata": (None, {}),
    "web_search_options": (None,),
    "verbosity": (None,),
}
_COMPLETION_NO_OPS: dict[str, tuple[Any, ...]] = {
    "suffix": (None, ""),
    "echo": (None, False),
    "logit_bias": (None, {}),
}


def _refusal(body: Any, no_ops: Mapping[str, tuple[Any, ...]]) -> tuple[str, str] | None:
    for name, allowed in no_ops.items():
        value = getattr(body, name)
        if value is not None and value not in allowed:
            shown = reprlib.repr(value)
            return name, f"this server does not support {name}={shown}; leave it out"
    return None


class GenerationBody(RequestConfig):
    """What both routes share: the model name, the config fields, their checks."""

    #: Fields held under another name than the client's, for error messages.
    error_aliases: ClassVar[Mapping[str, str]] = {}
    #: The route's own max_tokens, where neither the client nor the server chose one.
    default_max_tokens: ClassVar[int | None] = None

    model: str
    max_completion_tokens: int | None = Field(default=None, ge=1)
    # Accepted and ignored: they ask for nothing that changes the output.
    user: str | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None

    @classmethod
    def parse(cls, data: bytes | Mapping[str, Any]) -> Self:
        """A body as the server takes it: validated (JSON text or its object), then
        refused where it asks for what the server cannot honour; an :class:`APIError`
        either way."""
        try:
            if isinstance(data, bytes):
                body = cls.model_validate_json(data)
            else:
                body = cls.model_validate(data)
        except ValidationError as exc:
            raise from_validation_error(exc, cls.error_aliases) from None
        refusal = body.refusal()
        if refusal is not None:
            param, message = refusal
            raise APIError.bad_request(message, param)
        return body

    async def within_context(
        self, config: RequestConfig, answer: Callable[[RequestConfig], Awaitable[T]]
    ) -> T:
        """``answer(config)``; where a default max_tokens (not the client's) does not fit
        the prompt, the answer takes as much as fits, as in vLLM. A max_tokens the
        client chose that does not fit is the client's error."""
        try:
            return await answer(config)
        except InvalidRequestError as exc:
            chosen = self.max_tokens is not None or self.max_completion_tokens is not None
            if chosen or exc.param != "max_tokens" or config.max_tokens is None:
                raise
            return await answer(config.model_copy(update={"max_tokens": None}))

    def refusal(self) -> tuple[str, str] | None:
        """The field this server cannot honour and why, or ``None``: a 400."""
        if self.stream_options is not None and not self.stream:
            return "stream_options", "stream_options is only allowed when stream is true"
        if (
            self.max_completion_tokens is not None
            and self.max_tokens is not None
            and self.max_completion_tokens != self.max_tokens
        ):
            return (
                "max_completion_tokens",
                "max_tokens and max_completion_tokens disagree; give one of them",
            )
        return None

    def infer_request(self, adapter: str | None) -> InferRequest:
        """The engine's request for this body, on LoRA ``adapter`` (``None``: the base model)."""
        raise NotImplementedError

    def engine_config(self, defaults: Mapping[str, Any]) -> RequestConfig:
        """The engine's config: this body's fields, then ``defaults`` for those left out."""
        values = {name: getattr(self, name) for name in _CONFIG_FIELDS}
        if self.max_completion_tokens is not None:
            values["max_tokens"] = self.max_completion_tokens
        for name, value in defaults.items():
            if values[name] is None:
                values[name] = value
        # Usage is always asked of the engine: the metrics count every
        # stream's tokens; the routes drop the chunk if the client did not ask.
        if self.stream:
            values["stream_options"] = _USAGE
        return RequestConfig.model_construct(**values)


class ChatCompletionRequest(GenerationBody, ToolFields):
    """The body of ``POST /v1/chat/completions``; ``tools``, ``tool_choice`` and
    ``parallel_tool_calls`` are checked as the engine's request checks them."""

    messages: list[ChatMessage] = Field(min_length=1)
    # The tag form: `<image>`, `<video>`, `<audio>` in the text, the sources here in order.
    images: list[str] = Field(default_factory=list)
    videos: list[str] = Field(default_factory=list)
    audios: list[str] = Field(default_factory=list)
    functions: Any = None
    function_call: Any = None
    logit_bias: Any = None
    modalities: Any = None
    audio: Any = None
    prediction: Any = None
    reasoning_effort: Any = None
    service_tier: Any = None
    store: Any = None
    metadata: Any = None
    web_search_options: Any = None
    verbosity: Any = None

    def refusal(self) -> tuple[str, str] | None:
        found = super().refusal() or _refusal(self, _CHAT_NO_OPS)
        if found is not None:
            return found
        problem = self.tool_choice_problem(self.tool_choice, self.tools)
        return None if problem is None else ("tool_choice", problem)

    def infer_request(self, adapter: str | None) -> InferRequest:
        # The messages are validated already; pydantic takes them as they are.
        return InferRequest(
            messages=self.messages,
            images=self.images,
            videos=self.videos,
            audios=self.audios,
            tools=self.tools,
            tool_choice=self.tool_choice,
            parallel_tool_calls=self.parallel_tool_calls,
            adapter=adapter,
        )


def _integer_logprobs_schema(schema: dict[str, Any]) -> None:
    """The JSON schema of ``logprobs`` as a client sends it to ``/v1/completions``.

    The body arrives with ``logprobs=N`` and is validated as ``logprobs=true,
    top_logprobs=N`` (see ``CompletionRequest._integer_logprobs``); the schema
    shows the wire form, under ``top_logprobs``' bounds, and no ``top_logprobs``.
    """
    properties = schema["properties"]
    properties["logprobs"] = {**properties.pop("top_logprobs"), "title": "Logprobs"}


class CompletionRequest(GenerationBody):
    """The body of ``POST /v1/completions``: one raw ``prompt``, completed as it is.

    ``logprobs`` is an integer here, as in the OpenAI API: ``logprobs=N``
    reports each token's log-probability and its ``N`` best alternatives.
    """

    model_config = ConfigDict(json_schema_extra=_integer_logprobs_schema)
    error_aliases: ClassVar[Mapping[str, str]] = {"top_logprobs": "logprobs"}
    default_max_tokens: ClassVar[int | None] = 16  # the OpenAI completions API's

    prompt: str | list[str] | list[int] | list[list[int]]
    best_of: int | None = Field(default=None, ge=1)
    suffix: Any = None
    echo: Any = None
    logit_bias: Any = None

    @model_validator(mode="before")
    @classmethod
    def _integer_logprobs(cls, data: Any) -> Any:
        if isinstance(data, dict) and "logprobs" in data:
            value = data["logprobs"]
            if "top_logprobs" in data:
                raise ValueError("on /v1/completions give logprobs=N, not top_logprobs")
            if value is None:
                return {key: item for key, item in data.items() if key != "logprobs"}
            if isinstance(value, int) and not isinstance(value, bool):
                return {**data, "logprobs": True, "top_logprobs": value}
        return data

    def refusal(self) -> tuple[str, str] | None:
        found = super().refusal() or _refusal(self, _COMPLETION_NO_OPS)
        if found is not None:
            return found
        if self.best_of is not None and self.best_of != self.n:
            return "best_of", "this server does not support best_of other than n; leave it out"
        if isinstance(self.prompt, list):
            if not self.prompt:
                return "prompt", "the prompt list is empty; give one prompt"
            if not all(isinstance(item, str) for item in self.prompt):
                return "prompt", "this server takes the prompt as text, not as token ids"
            if len(self.prompt) != 1:
                return "prompt", "one prompt per request; send one request for each prompt"
        return None

    def infer_request(self, adapter: str | None) -> InferRequest:
        prompt = self.prompt if isinstance(self.prompt, str) else self.prompt[0]
        assert isinstance(prompt, str)  # refusal() turned token ids away
        return InferRequest(prompt=prompt, adapter=adapter)

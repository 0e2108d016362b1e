"""Request and response models on the OpenAI chat wire shapes.

Responses and chunks serialise to exactly what the OpenAI API returns, so the
official ``openai`` client parses them into its own types.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "AssistantMessage",
    "AudioContent",
    "ChatCompletionChunk",
    "ChatCompletionResponse",
    "ChatMessage",
    "Choice",
    "ChoiceLogprobs",
    "ChunkChoice",
    "ContentPart",
    "DeltaMessage",
    "FinishReason",
    "ImageContent",
    "ImageURL",
    "ImageURLContent",
    "InferRequest",
    "InputAudio",
    "InputAudioContent",
    "JSONObjectResponseFormat",
    "JSONSchemaFormat",
    "JSONSchemaResponseFormat",
    "MediaURL",
    "RequestConfig",
    "ResponseFormat",
    "StreamOptions",
    "TextContent",
    "TextResponseFormat",
    "TokenLogprob",
    "TopLogprob",
    "Usage",
    "VideoContent",
    "VideoURLContent",
]

FinishReason = Literal["stop", "length"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- content parts ----------------------------------------------------------


class TextContent(_Model):
    type: Literal["text"] = "text"
    text: str


class ImageURL(_Model):
    url: str
    detail: Literal["auto", "low", "high"] | None = None


class ImageURLContent(_Model):
    type: Literal["image_url"] = "image_url"
    image_url: ImageURL


class MediaURL(_Model):
    url: str


class VideoURLContent(_Model):
    type: Literal["video_url"] = "video_url"
    video_url: MediaURL


class InputAudio(_Model):
    data: str
    format: str


class InputAudioContent(_Model):
    type: Literal["input_audio"] = "input_audio"
    input_audio: InputAudio


# The short forms that Qwen-style and ms-swift requests use: the value is a
# URL, a path, base64 or a data URI.
class ImageContent(_Model):
    type: Literal["image"] = "image"
    image: str


class VideoContent(_Model):
    type: Literal["video"] = "video"
    video: str


class AudioContent(_Model):
    type: Literal["audio"] = "audio"
    audio: str


ContentPart = Annotated[
    TextContent
    | ImageURLContent
    | VideoURLContent
    | InputAudioContent
    | ImageContent
    | VideoContent
    | AudioContent,
    Field(discriminator="type"),
]


class ChatMessage(_Model):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None

    @model_validator(mode="after")
    def _content_present(self) -> ChatMessage:
        if self.content is None and self.role != "assistant":
            raise ValueError(f"a {self.role} message needs content")
        return self


class InferRequest(_Model):
    """One conversation to continue, or one raw prompt to complete.

    Media may be given inside the messages as content parts, or as ``<image>``,
    ``<video>`` and ``<audio>`` tags in the text with the files listed in order
    in ``images``, ``videos`` and ``audios``. ``prompt`` is for base models:
    the text is completed as it is, with no chat template.
    """

    messages: list[ChatMessage] | None = Field(default=None, min_length=1)
    prompt: str | None = None
    images: list[str] = Field(default_factory=list)
    videos: list[str] = Field(default_factory=list)
    audios: list[str] = Field(default_factory=list)
    tools: list[dict[str, Any]] | None = None
    #: A LoRA adapter the engine loaded (``Engine(..., adapters=...)``); None: the base model.
    adapter: str | None = None

    @model_validator(mode="after")
    def _messages_or_prompt(self) -> InferRequest:
        if (self.messages is None) == (self.prompt is None):
            raise ValueError("give either messages or prompt")
        return self


class StreamOptions(_Model):
    include_usage: bool = False


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

#: The fields that constrain the answer's text; a config sets at most one of them.
_STRUCTURED_FIELDS = ("response_format", "json_schema", "regex", "choice")


class RequestConfig(_Model):
    """How to generate; the fields and their bounds are the OpenAI API's.

    ``None`` leaves a setting to the backend's default (for ``max_tokens``: up
    to the end of the model's context).
    """

    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    top_k: int | None = Field(default=None, ge=-1)
    min_p: float | None = Field(default=None, ge=0.0, le=1.0)
    repetition_penalty: float | None = Field(default=None, gt=0.0)
    presence_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    frequency_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    stop: list[str] | None = None
    seed: int | None = None
    n: int = Field(default=1, ge=1, le=128)
    logprobs: bool = False
    top_logprobs: int | None = Field(default=None, ge=0, le=20)
    stream: bool = False
    stream_options: StreamOptions | None = None
    ignore_eos: bool = False
    #: Structured output, OpenAI's way: text, any JSON object, or JSON under a schema.
    response_format: ResponseFormat | None = None
    #: The answer is one JSON value valid under this JSON Schema.
    json_schema: dict[str, Any] | None = None
    #: The whole answer matches this regular expression.
    regex: str | None = None
    #: The answer is exactly one of these strings.
    choice: list[str] | None = Field(default=None, min_length=1)

    @model_validator(mode="before")
    @classmethod
    def _stop_as_list(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("stop"), str):
            return {**data, "stop": [data["stop"]]}
        return data

    @model_validator(mode="after")
    def _check(self) -> RequestConfig:
        if self.top_logprobs is not None and not self.logprobs:
            raise ValueError("top_logprobs needs logprobs=true")
        if self.stop is not None and any(s == "" for s in self.stop):
            raise ValueError("stop strings must not be empty")
        given = [name for name in _STRUCTURED_FIELDS if getattr(self, name) is not None]
        if isinstance(self.response_format, TextResponseFormat):
            given.remove("response_format")
        if len(given) > 1:
            raise ValueError(f"give at most one of {', '.join(given)}: each constrains the answer")
        return self


# -- responses --------------------------------------------------------------


class TopLogprob(BaseModel):
    token: str
    logprob: float
    bytes: list[int] | None


class TokenLogprob(BaseModel):
    token: str
    logprob: float
    bytes: list[int] | None
    top_logprobs: list[TopLogprob]


class ChoiceLogprobs(BaseModel):
    content: list[TokenLogprob] | None


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None


class Choice(BaseModel):
    index: int
    message: AssistantMessage
    logprobs: ChoiceLogprobs | None = None
    finish_reason: FinishReason


def _completion_id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def _now() -> int:
    return int(time.time())


class ChatCompletionResponse(BaseModel):
    id: str = Field(default_factory=_completion_id)
    object: Literal["chat.completion"] = "chat.completion"
    created: int = Field(default_factory=_now)
    model: str
    choices: list[Choice]
    usage: Usage


class DeltaMessage(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int
    delta: DeltaMessage
    logprobs: ChoiceLogprobs | None = None
    finish_reason: FinishReason | None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None

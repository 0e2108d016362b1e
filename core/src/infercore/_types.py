"""Request and response models on the OpenAI chat wire shapes.

Responses and chunks serialise to exactly what the OpenAI API returns, so the
official ``openai`` client parses them into its own types.
"""

from __future__ import annotations

import time
import uuid
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    computed_field,
    field_validator,
    model_serializer,
    model_validator,
)

from infercore._response_format_types import (
    JSONObjectResponseFormat,
    JSONSchemaFormat,
    JSONSchemaResponseFormat,
    ResponseFormat,
    TextResponseFormat,
)
from infercore._tool_types import (
    DeltaFunctionCall,
    DeltaToolCall,
    FunctionCall,
    FunctionName,
    NamedToolChoice,
    ToolCall,
    ToolChoice,
    ToolFields,
)

__all__ = [
    "AssistantMessage",
    "AudioContent",
    "ChatCompletionChunk",
    "ChatCompletionResponse",
    "ChatMessage",
    "Choice",
    "ChoiceFinishReason",
    "ChoiceLogprobs",
    "ChunkChoice",
    "ContentPart",
    "DeltaFunctionCall",
    "DeltaMessage",
    "DeltaToolCall",
    "FinishReason",
    "FunctionCall",
    "FunctionName",
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
    "NamedToolChoice",
    "RequestConfig",
    "ResponseFormat",
    "StreamOptions",
    "TextContent",
    "TextResponseFormat",
    "TokenLogprob",
    "ToolCall",
    "ToolChoice",
    "ToolFields",
    "TopLogprob",
    "Usage",
    "VideoContent",
    "VideoURLContent",
]

#: Why a backend ended a generation.
FinishReason = Literal["stop", "length"]
#: Why a choice ended: as its generation did, or "tool_calls" where the model called tools.
ChoiceFinishReason = Literal["stop", "length", "tool_calls"]


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
    #: The calls an assistant made earlier in the conversation.
    tool_calls: list[ToolCall] | None = None
    #: The call a ``tool`` message answers.
    tool_call_id: str | None = None
    #: An earlier answer's reasoning, which clients send back as ``reasoning`` or
    #: ``reasoning_content``; templates that show it read ``reasoning_content``.
    reasoning: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _reasoning_by_either_name(cls, data: Any) -> Any:
        if isinstance(data, dict) and "reasoning_content" in data:
            data = dict(data)
            content = data.pop("reasoning_content")
            if data.get("reasoning") not in (None, content):
                raise ValueError("reasoning and reasoning_content disagree; give one of them")
            data["reasoning"] = content
        return data

    @model_validator(mode="after")
    def _content_present(self) -> ChatMessage:
        if self.content is None and self.role != "assistant":
            raise ValueError(f"a {self.role} message needs content")
        return self


class InferRequest(ToolFields):
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
    #: A LoRA adapter the engine loaded (``Engine(..., adapters=...)``); None: the base model.
    adapter: str | None = None

    @field_validator("tool_choice")
    @classmethod
    def _tool_choice_fits(
        cls, choice: ToolChoice | None, info: ValidationInfo
    ) -> ToolChoice | None:
        problem = cls.tool_choice_problem(choice, info.data.get("tools"))
        if problem is not None:
            raise ValueError(problem)
        return choice

    @model_validator(mode="after")
    def _messages_or_prompt(self) -> InferRequest:
        if (self.messages is None) == (self.prompt is None):
            raise ValueError("give either messages or prompt")
        return self


class StreamOptions(_Model):
    include_usage: bool = False


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


class _WithReasoning(BaseModel):
    """``reasoning``: a reasoning model's thinking, apart from its answer. On the wire it
    is sent under both names clients read, ``reasoning`` (vLLM's today) and
    ``reasoning_content`` (vLLM's before, DeepSeek's, and what LiteLLM and LangChain
    read), and left out when there is none, as OpenAI's own answers have no such field."""

    reasoning: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def reasoning_content(self) -> str | None:
        return self.reasoning

    @model_serializer(mode="wrap")
    def _reasoning_when_present(self, handler: SerializerFunctionWrapHandler) -> Any:
        data = handler(self)
        if self.reasoning is None and isinstance(data, dict):
            del data["reasoning"], data["reasoning_content"]
        return data


class AssistantMessage(_WithReasoning):
    role: Literal["assistant"] = "assistant"
    content: str | None
    tool_calls: list[ToolCall] | None = None


class Choice(BaseModel):
    index: int
    message: AssistantMessage
    logprobs: ChoiceLogprobs | None = None
    finish_reason: ChoiceFinishReason


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


class DeltaMessage(_WithReasoning):
    role: Literal["assistant"] | None = None
    content: str | None = None
    tool_calls: list[DeltaToolCall] | None = None


class ChunkChoice(BaseModel):
    index: int
    delta: DeltaMessage
    logprobs: ChoiceLogprobs | None = None
    finish_reason: ChoiceFinishReason | None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None

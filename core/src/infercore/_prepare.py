"""Request preparation: every check and every load before the first byte of an answer.

A request that passes is a :class:`Job`: its prompt rendered with the model's chat
template, its media loaded under the engine's limits, the backend's own
:meth:`~infercore.Backend.prepare` done, and one set of sampling parameters per choice.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from infercore._aio import gather
from infercore._backend import (
    SAMPLING_FIELDS,
    Backend,
    Capabilities,
    PreparedRequest,
    SamplingParams,
    Task,
)
from infercore._chat import render_prompt
from infercore._errors import InvalidRequestError
from infercore._media import MediaFetcher, MediaLimits, load_audio, load_image, load_video
from infercore._multimodal import MediaPlan, plan_media
from infercore._parsers import (
    ForcedCallsParser,
    OutputParsing,
    ReasoningParser,
    ToolParser,
    forced_calls_schema,
)
from infercore._stats import InferStats
from infercore._structured import (
    ReasoningTags,
    StructuredOutput,
    schema_output,
    structured_output,
)
from infercore._types import InferRequest, NamedToolChoice, RequestConfig

__all__ = ["CONFIG_SAMPLING_FIELDS", "Job", "Preparer"]

#: The sampling settings a config leaves unset with None; ignore_eos is a flag.
CONFIG_SAMPLING_FIELDS = tuple(sorted(SAMPLING_FIELDS - {"ignore_eos"}))


@dataclass(frozen=True)
class Job:
    """One prepared request: its prompt, and one sampling setup per choice."""

    id: str
    created: int
    prepared: PreparedRequest
    samples: tuple[SamplingParams, ...]
    config: RequestConfig
    stats: InferStats | None
    #: How each choice's text splits into reasoning, content and tool calls.
    parsing: OutputParsing


@dataclass(frozen=True)
class Preparer:
    """Turns requests into jobs for one engine's backend.

    Every fault of the caller's is raised here as an :class:`InvalidRequestError`
    (or a :class:`~infercore.MediaError`), naming the field.
    """

    model: str
    backend: Backend[Any]
    backend_name: str
    capabilities: Capabilities
    adapters: Mapping[str, str]
    media_limits: MediaLimits
    #: The engine's fetcher, made on first use (text-only engines never open one).
    fetcher: Callable[[], MediaFetcher]
    #: What the engine loaded the model for; only ``"generate"`` engines take requests.
    task: Task = "generate"
    #: The engine's tool-call format; None: requests with tools are refused.
    tool_parser: ToolParser | None = None
    reasoning_parser: ReasoningParser | None = None

    async def prepare(
        self, request: InferRequest, config: RequestConfig, stats: InferStats | None
    ) -> Job:
        if self.task != "generate":
            raise InvalidRequestError(
                f"the model {self.model!r} is loaded for {self.task!r}; it does not generate "
                "(load it with task='generate' for chat and completions)",
                param="model",
            )
        self._check_supported(config)
        structured = await self._structured(request, config)
        self._check_adapter(request)
        plan = plan_media(request)
        self._check_modalities(request, plan)
        media = await self._load_media(plan) if plan.has_media else {}
        tokenizer = self.backend.tokenizer
        renderer = self.backend.processor if plan.has_media else tokenizer
        assert renderer is not None  # _check_modalities saw to it
        prompt = render_prompt(renderer, request, plan.conversation)
        # A rendered chat template carries its own special tokens; a raw
        # prompt gets the tokenizer's (a BOS token, say), as vLLM does.
        prompt_ids = tokenizer.encode(prompt, add_special_tokens=request.prompt is not None)
        if structured is not None:
            structured = await self._compiled(structured, prompt)
        request_id = uuid.uuid4().hex
        prepared = await self.backend.prepare(
            PreparedRequest(request_id, prompt, tuple(prompt_ids), request.adapter, **media)
        )
        max_tokens = self._max_tokens(len(prepared.prompt_token_ids), config)
        base = SamplingParams(
            max_tokens=max_tokens,
            ignore_eos=config.ignore_eos,
            logprobs=(config.top_logprobs or 0) if config.logprobs else None,
            structured=structured,
            **{name: getattr(config, name) for name in CONFIG_SAMPLING_FIELDS},
        )
        # Each choice gets its own seed, so n samples differ yet repeat exactly.
        others = (
            replace(base, seed=None if base.seed is None else base.seed + index)
            for index in range(1, config.n)
        )
        return Job(
            id=f"chatcmpl-{request_id}",
            created=int(time.time()),
            prepared=prepared,
            samples=(base, *others),
            config=config,
            stats=stats,
            parsing=self._parsing(request, prompt),
        )

    def _parsing(self, request: InferRequest, prompt: str) -> OutputParsing:
        """How the answers to ``request`` are parsed: a raw prompt's are left as text."""
        if request.prompt is not None:
            if request.tools:
                raise InvalidRequestError(
                    "a raw prompt has no chat template to show tools to; send messages",
                    param="tools",
                )
            return OutputParsing(prompt)
        return OutputParsing(
            prompt,
            self.reasoning_parser,
            self._tool_parser(request),
            single_call=request.parallel_tool_calls is False,
        )

    def _tool_parser(self, request: InferRequest) -> ToolParser | None:
        """What finds the calls in the answers to ``request``; None: it offers no tools."""
        choice = request.tool_choice
        if not request.tools or choice == "none":
            return None
        if isinstance(choice, NamedToolChoice):
            return ForcedCallsParser(choice.function.name)
        if choice == "required":
            return ForcedCallsParser(None)
        if self.tool_parser is None:
            raise InvalidRequestError(
                "this engine parses no tool calls, so it takes no tools: start it with a "
                "tool-call parser "
                "(Engine(tool_call_parser=...), infercore deploy --tool-call-parser NAME), "
                'or send tool_choice="none"',
                param="tools",
            )
        return self.tool_parser

    def _max_tokens(self, prompt_tokens: int, config: RequestConfig) -> int:
        """``config.max_tokens``, or all the room left, once the prompt fits the context."""
        context = self.backend.max_model_len
        room = context - prompt_tokens
        if room < 1:
            raise InvalidRequestError(
                f"the prompt has {prompt_tokens} tokens (media included), and this model's "
                f"context holds {context}; shorten the messages or send fewer or smaller media",
                param="messages",
            )
        if config.max_tokens is not None and config.max_tokens > room:
            raise InvalidRequestError(
                f"max_tokens={config.max_tokens} does not fit: the prompt has "
                f"{prompt_tokens} tokens and the context holds {context}, which leaves {room}",
                param="max_tokens",
            )
        return config.max_tokens or room

    async def _structured(
        self, request: InferRequest, config: RequestConfig
    ) -> StructuredOutput | None:
        """The one constraint on the answer, as the core checks it: the config's, or the
        calls' JSON Schema that tool_choice "required" or a named function demands (only
        output held to it is certain to parse as calls)."""
        structured = structured_output(config)
        calls = forced_calls_schema(request)
        if calls is not None:
            if structured is not None:
                raise InvalidRequestError(
                    f"{structured.param} cannot constrain an answer that tool_choice already "
                    "holds to the tool call; leave one of them out",
                    param=structured.param,
                )
            # Made of the tools' parameter schemas: a fault in it is theirs.
            structured = schema_output(calls, "tools")
        if structured is None:
            return None
        if not self.capabilities.structured_output:
            if calls is not None:
                raise InvalidRequestError(
                    f"backend {self.backend_name!r} cannot constrain its output to a JSON "
                    'schema, which tool_choice "required" or a named function needs; use "auto"',
                    param="tool_choice",
                )
            raise InvalidRequestError(
                f"backend {self.backend_name!r} does not support structured output "
                f"({structured.param}); leave it out, or use a backend that does",
                param=structured.param,
            )
        return structured

    async def _compiled(self, structured: StructuredOutput, prompt: str) -> StructuredOutput:
        """``structured`` as the backend will hold the answer to ``prompt`` to, once the
        backend has checked it: after the thinking, where the engine parses reasoning."""
        parser = self.reasoning_parser
        if parser is not None:
            tags = ReasoningTags(parser.start, parser.end, parser.opens_in_reasoning(prompt))
            structured = replace(structured, reasoning=tags)
        await self.backend.check_structured(structured)
        return structured

    def _check_adapter(self, request: InferRequest) -> None:
        if request.adapter is not None and request.adapter not in self.adapters:
            loaded = ", ".join(sorted(self.adapters)) or "none"
            raise InvalidRequestError(
                f"unknown adapter {request.adapter!r}; loaded adapters: {loaded}", param="adapter"
            )

    def _check_modalities(self, request: InferRequest, plan: MediaPlan) -> None:
        for modality, count in plan.counts().items():
            if modality not in self.capabilities.modalities:
                listed = f"{modality}s"
                raise InvalidRequestError(
                    f"backend {self.backend_name!r} does not take {modality}s; this request has "
                    f"{count}",
                    param=listed if getattr(request, listed) else "messages",
                )
        if plan.has_media and self.backend.processor is None:
            raise InvalidRequestError(
                f"the model {self.model!r} has no multimodal processor; it takes text only",
                param="messages",
            )
        self.media_limits.check_counts(plan.counts())

    async def _load_media(self, plan: MediaPlan) -> dict[str, tuple[Any, ...]]:
        """Every image, video and audio of ``plan``, loaded concurrently under the limits."""
        limits, fetcher = self.media_limits, self.fetcher()
        feature_extractor = getattr(self.backend.processor, "feature_extractor", None)
        rate = int(getattr(feature_extractor, "sampling_rate", 16_000))
        images = [load_image(source, limits, fetcher) for source in plan.sources["image"]]
        videos = [load_video(source, limits, fetcher) for source in plan.sources["video"]]
        audios = [load_audio(s, rate, limits, fetcher) for s in plan.sources["audio"]]
        loaded = await gather([*images, *videos, *audios])
        first_video, first_audio = len(images), len(images) + len(videos)
        return {
            "images": tuple(loaded[:first_video]),
            "videos": tuple(loaded[first_video:first_audio]),
            "audios": tuple(loaded[first_audio:]),
        }

    def _check_supported(self, config: RequestConfig) -> None:
        capabilities = self.capabilities
        wanted = [name for name in CONFIG_SAMPLING_FIELDS if getattr(config, name) is not None]
        if config.ignore_eos:
            wanted.append("ignore_eos")
        for name in wanted:
            if name not in capabilities.sampling:
                raise InvalidRequestError(
                    f"backend {self.backend_name!r} does not support {name}", param=name
                )
        if config.logprobs:
            if capabilities.max_top_logprobs is None:
                raise InvalidRequestError(
                    f"backend {self.backend_name!r} does not return logprobs", param="logprobs"
                )
            if (config.top_logprobs or 0) > capabilities.max_top_logprobs:
                raise InvalidRequestError(
                    f"backend {self.backend_name!r} returns at most "
                    f"{capabilities.max_top_logprobs} top_logprobs",
                    param="top_logprobs",
                )

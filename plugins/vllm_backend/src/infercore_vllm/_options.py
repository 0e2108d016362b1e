"""The vLLM backend's engine options (importable without vLLM)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from infercore import BackendOptions

__all__ = ["VllmOptions"]


class VllmOptions(BackendOptions):
    """vLLM engine arguments; ``engine_kwargs`` passes any other one through."""

    gpu_memory_utilization: float | None = Field(
        default=None, gt=0.0, le=1.0, description="share of GPU memory for weights and KV cache"
    )
    max_model_len: int | None = Field(default=None, ge=1, description="context length")
    max_num_seqs: int | None = Field(default=None, ge=1, description="most sequences per step")
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    quantization: str | None = Field(default=None, description="awq, gptq, fp8, ...")
    enforce_eager: bool = Field(default=False, description="skip CUDA graphs / compilation")
    enable_prefix_caching: bool | None = None
    tensor_parallel_size: int = Field(default=1, ge=1)
    pipeline_parallel_size: int = Field(default=1, ge=1)
    data_parallel_size: int = Field(default=1, ge=1)
    distributed_executor_backend: Literal["mp", "ray", "uni"] | None = Field(
        default=None, description="ray to span more than one machine"
    )
    limit_mm_per_prompt: dict[str, int] | None = Field(
        default=None, description='most images/videos/audios per prompt, e.g. {"image": 2}'
    )
    enable_lora: bool = False
    max_loras: int | None = Field(default=None, ge=1)
    max_lora_rank: int | None = Field(default=None, ge=1)
    seed: int | None = Field(default=None, description="the engine's global seed")
    trust_remote_code: bool = False
    engine_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="any other vLLM engine argument"
    )

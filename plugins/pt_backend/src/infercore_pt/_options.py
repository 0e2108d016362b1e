"""The pt backend's engine options (importable without torch)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from infercore import BackendOptions

__all__ = ["PtOptions"]


class PtOptions(BackendOptions):
    """How the transformers backend loads and batches a model."""

    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        default="auto",
        description="weights and activations; auto: the checkpoint's on GPU (and for "
        "task=embed), bfloat16 on a CPU with native bf16 support, else float32",
    )
    device: str | None = Field(
        default=None, description="torch device, such as cpu or cuda:0; default: cuda if present"
    )
    device_map: str | dict[str, Any] | None = Field(
        default=None, description="accelerate device map (auto, balanced, ...); overrides device"
    )
    max_batch_size: int = Field(
        default=32, ge=1, description="most sequences decoded (or embedded) together"
    )
    enable_prefix_caching: bool = Field(
        default=True,
        description="reuse the KV of a prompt prefix seen before (a shared system prompt, "
        "earlier turns of a chat) instead of computing it again",
    )
    prefix_cache_tokens: int = Field(
        default=8192,
        ge=1,
        description="most prompt tokens whose KV the prefix cache keeps; the least "
        "recently used prompts go first",
    )
    enable_chunked_prefill: bool = Field(
        default=True,
        description="feed long prompts in chunks between decode steps, so that running "
        "streams keep their pace while a long prompt enters",
    )
    max_num_batched_tokens: int = Field(
        default=512,
        ge=1,
        description="with chunked prefill, most tokens one step feeds the model, "
        "decoding rows and prompt chunks together",
    )
    max_model_len: int | None = Field(
        default=None, ge=1, description="context length; default: the model's"
    )
    attn_implementation: str | None = Field(
        default=None, description="transformers attention kernel (sdpa, eager, flash_attention_2)"
    )
    trust_remote_code: bool = False
    model_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="extra keyword arguments for from_pretrained"
    )

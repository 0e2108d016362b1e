"""Shared settings for the vLLM tests, which run the real vLLM on this machine's CPU."""

from __future__ import annotations

from typing import Any

#: vLLM on a CPU: no compilation (start-up takes minutes otherwise), float32 as
#: the pt tests use, and a small share of memory for the KV cache, since on the
#: CPU backend gpu_memory_utilization is the share of host memory it reserves.
VLLM_OPTIONS: dict[str, Any] = {
    "dtype": "float32",
    "enforce_eager": True,
    "max_model_len": 2048,
    "gpu_memory_utilization": 0.2,
}

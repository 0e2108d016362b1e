"""The LMDeploy backend's engine options (importable without LMDeploy)."""

from __future__ import annotations

import importlib.util
from typing import Any, Literal, Self

from pydantic import Field, model_validator

from infercore import BackendOptions

__all__ = ["LmdeployOptions"]


class LmdeployOptions(BackendOptions):
    """LMDeploy's engine configuration, by the names its users know.

    Unset options keep LMDeploy's own defaults; ``engine_kwargs`` passes any other
    field of ``TurbomindEngineConfig`` or ``PytorchEngineConfig`` through. LMDeploy's
    own config class checks the values (see ``engine_config``), so a value it would
    refuse is refused here, in its words, before any weight is loaded. LoRA adapters
    (LMDeploy's ``adapters``) are infercore's own: ``Engine(..., adapters={...})``.
    """

    # infercore's `backend` names this plugin, so LMDeploy's own `backend` is `engine`.
    engine: Literal["turbomind", "pytorch"] = Field(
        default="turbomind", description="LMDeploy's backend: TurboMind, or its PyTorch engine"
    )
    tp: int | None = Field(default=None, description="GPUs for tensor parallelism")
    dp: int | None = Field(default=None, description="data-parallel engine replicas")
    session_len: int | None = Field(
        default=None, description="context length (default: the model's)"
    )
    max_batch_size: int | None = Field(default=None, description="most sequences per step")
    cache_max_entry_count: float | None = Field(
        default=None, description="share of free GPU memory for the KV cache"
    )
    quant_policy: int | None = Field(default=None, description="KV cache quantization: 0, 4 or 8")
    model_format: str | None = Field(
        default=None, description="weights layout: hf, awq, gptq, ... (default: from the model)"
    )
    enable_prefix_caching: bool | None = None
    device_type: str | None = Field(
        default=None, description="the PyTorch engine's device: cuda, ascend, maca, camb"
    )
    trust_remote_code: bool = False
    engine_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="any other field of LMDeploy's engine config"
    )

    @model_validator(mode="after")
    def _lmdeploy_accepts(self) -> Self:
        # Without LMDeploy there is nothing to check against: loading the backend
        # then says it is missing.
        if importlib.util.find_spec("lmdeploy") is not None:
            from infercore_lmdeploy._configs import engine_config

            engine_config(self)
        return self

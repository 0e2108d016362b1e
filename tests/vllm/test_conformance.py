"""The backend conformance suite on the real vLLM, on the CPU, with two LoRA adapters."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from lora_models import two_lora_adapters
from vllm_settings import VLLM_OPTIONS

import infercore
from infercore.testing import BackendConformance

MODEL = "smollm2-135m-instruct"


class TestVllmConformance(BackendConformance):
    backend = "vllm"
    model = MODEL
    options: ClassVar[dict[str, Any]] = {**VLLM_OPTIONS, "enable_lora": True, "max_lora_rank": 8}

    @pytest.fixture(scope="class")
    @classmethod
    def adapters(cls, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
        path = infercore.get_plugin_manager().registry.resolve_model(MODEL)
        return two_lora_adapters(path, tmp_path_factory.mktemp("adapters"))

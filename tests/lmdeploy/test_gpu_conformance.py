"""The backend conformance suite on the real LMDeploy, on a CUDA GPU: SmolLM2 on TurboMind,
and on the PyTorch engine with two LoRA adapters."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest
from lmdeploy_gpu import LMDEPLOY_OPTIONS, requires_gpu
from lora_models import two_lora_adapters

import infercore
from infercore.testing import BackendConformance

MODEL = "smollm2-135m-instruct"


@requires_gpu
class TestTurbomindConformance(BackendConformance):
    backend = "lmdeploy"
    model = MODEL
    options: ClassVar[dict[str, Any]] = {**LMDEPLOY_OPTIONS, "engine": "turbomind"}


@requires_gpu
class TestPytorchEngineConformance(BackendConformance):
    backend = "lmdeploy"
    model = MODEL
    options: ClassVar[dict[str, Any]] = {**LMDEPLOY_OPTIONS, "engine": "pytorch"}

    @pytest.fixture(scope="class")
    @classmethod
    def adapters(cls, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
        path = infercore.get_plugin_manager().registry.resolve_model(MODEL)
        return two_lora_adapters(path, tmp_path_factory.mktemp("adapters"))

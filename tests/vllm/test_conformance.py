"""The backend conformance suite on the real vLLM, on the CPU."""

from __future__ import annotations

from typing import Any, ClassVar

from vllm_settings import VLLM_OPTIONS

from infercore.testing import BackendConformance


class TestVllmConformance(BackendConformance):
    backend = "vllm"
    model = "smollm2-135m-instruct"
    options: ClassVar[dict[str, Any]] = VLLM_OPTIONS

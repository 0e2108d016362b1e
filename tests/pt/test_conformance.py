"""The pt backend passes the backend conformance suite on the real SmolLM2 model."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

import infercore.testing

pytest.importorskip("torch")
pytest.importorskip("transformers")


class TestPtConformance(infercore.testing.BackendConformance):
    backend = "pt"
    model = "smollm2-135m-instruct"
    options: ClassVar[dict[str, Any]] = {"dtype": "float32"}

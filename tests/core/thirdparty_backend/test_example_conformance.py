"""The conformance suite from infercore.testing, run on the example backend."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from infercore.testing import BackendConformance

pytest.importorskip(
    "infercore_example_backend",
    reason="infercore-example-backend is not installed: "
    "pip install -e tests/core/thirdparty_backend",
)


class TestExampleConformance(BackendConformance):
    backend = "example"
    model = "parrot"
    options: ClassVar[dict[str, Any]] = {"max_model_len": 512, "word_delay": 0.001}

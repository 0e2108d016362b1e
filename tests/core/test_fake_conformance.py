"""The conformance suite from infercore.testing, run on the fake backend."""

from __future__ import annotations

from typing import Any, ClassVar

from infercore.testing import BackendConformance


class TestFakeConformance(BackendConformance):
    backend = "fake"
    model = "fake"
    # A short pause per token keeps the cancellation test honest: the stream is still
    # generating when it is closed.
    options: ClassVar[dict[str, Any]] = {"max_model_len": 512, "token_delay": 0.001}

"""The conformance suite from infercore.testing, run on the core's own echo backend."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

import infercore
from infercore import _builtin
from infercore.testing import BackendConformance


@pytest.fixture(scope="module", autouse=True)
def builtin_plugin() -> Iterator[None]:
    """The core's own plugin, under its entry point's name, which the core's tests do not
    autoload."""
    manager = infercore.get_plugin_manager()
    manager.register(_builtin, name="builtin")
    yield
    manager.unregister("builtin")


class TestEchoConformance(BackendConformance):
    backend = "echo"
    model = "echo"
    # Paced, so that a stream is still running when the cancellation test closes it.
    options: ClassVar[dict[str, Any]] = {"max_model_len": 512, "token_rate": 2000.0}

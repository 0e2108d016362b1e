"""What every part of the conformance suite shares: the engines under test and the helpers.

The engines are class-scoped fixtures, so one engine serves a whole test class.
A backend's test class overrides ``adapters`` to give LoRA adapters for its
model, and ``media_engine`` to give an engine on a model that takes images;
left alone, the tests that need them are skipped.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

import pytest

from infercore._engine import Engine
from infercore._types import ChatCompletionChunk, ChatCompletionResponse, RequestConfig

__all__ = ["OTHER_QUESTIONS", "QUESTION", "SuiteBase", "answers", "streamed_text", "wait_idle"]

QUESTION = [{"messages": [{"role": "user", "content": "What is the capital of France?"}]}]
OTHER_QUESTIONS = [
    {"messages": [{"role": "user", "content": "Name three colours."}]},
    {"messages": [{"role": "user", "content": "Write one sentence about the sea."}]},
    {
        "messages": [
            {"role": "system", "content": "You answer briefly."},
            {"role": "user", "content": "What is 2 + 2?"},
        ]
    },
]


def wait_idle(engine: Engine) -> None:
    """Wait (a few seconds at most) for the backend to hold no request."""
    deadline = time.monotonic() + 5.0
    while engine.backend.active_requests and time.monotonic() < deadline:
        time.sleep(0.02)
    assert engine.backend.active_requests == 0


def answers(responses: Iterable[ChatCompletionResponse]) -> list[str | None]:
    """The first choice's text of each response."""
    return [response.choices[0].message.content for response in responses]


def streamed_text(chunks: Iterable[ChatCompletionChunk]) -> str:
    return "".join(chunk.choices[0].delta.content or "" for chunk in chunks if chunk.choices)


class SuiteBase:
    """The class-level settings and fixtures of :class:`~infercore.testing.BackendConformance`."""

    backend: ClassVar[str]
    model: ClassVar[str]
    options: ClassVar[dict[str, Any]] = {}
    max_tokens: ClassVar[int] = 16
    # The sampling settings the engine declares, read when it starts.
    _sampling: ClassVar[frozenset[str]] = frozenset()

    # Classmethods: pytest deprecates class-scoped fixtures defined on the instance.
    @pytest.fixture(scope="class")
    @classmethod
    def adapters(cls) -> dict[str, str]:
        """LoRA adapters for ``model`` (name -> path), at least two with different weights.

        Override it in a backend that declares LoRA; with none, the LoRA tests skip.
        """
        return {}

    @pytest.fixture(scope="class")
    @classmethod
    def engine(cls, adapters: dict[str, str]) -> Iterator[Engine]:
        with Engine(
            cls.model, backend=cls.backend, adapters=adapters or None, **cls.options
        ) as engine:
            # A backend that does not sample (it declares no temperature) is greedy as it is.
            cls._sampling = engine.capabilities.sampling
            yield engine

    @pytest.fixture(scope="class")
    @classmethod
    def media_engine(cls) -> Engine | None:
        """An engine of this backend on a model that takes images, or None.

        Override it in a backend that declares the image modality; with none,
        the image round trips skip.
        """
        return None

    def _greedy(self, **overrides: Any) -> RequestConfig:
        settings: dict[str, Any] = {"max_tokens": self.max_tokens}
        if "temperature" in self._sampling:
            settings["temperature"] = 0.0
        settings.update(overrides)
        return RequestConfig(**settings)

    @staticmethod
    def _needs_sampling(engine: Engine, *names: str) -> None:
        missing = [name for name in names if name not in engine.capabilities.sampling]
        if missing:
            pytest.skip(f"backend does not declare {', '.join(missing)}")

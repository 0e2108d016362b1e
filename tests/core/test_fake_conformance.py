"""The conformance suite from infercore.testing, run on the fake backend."""

from __future__ import annotations

from typing import Any, ClassVar

from infercore import Engine, RequestConfig
from infercore.testing import BackendConformance

QUESTION = [{"messages": [{"role": "user", "content": "What is the capital of France?"}]}]


class TestFakeConformance(BackendConformance):
    backend = "fake"
    model = "fake"
    # A short pause per token keeps the cancellation test honest: the stream is still
    # generating when it is closed.
    options: ClassVar[dict[str, Any]] = {"max_model_len": 512, "token_delay": 0.001}
    embed_model = "fake"
    embed_options: ClassVar[dict[str, Any]] = {"max_model_len": 128}


class TestFakeConformanceWithFewPossibleTokens(BackendConformance):
    """A model whose every step has fewer possible tokens than the 20 top_logprobs a
    request may ask for: the lists come shorter, never padded with impossible tokens."""

    backend = "fake"
    model = "fake"
    options: ClassVar[dict[str, Any]] = {
        "max_model_len": 512,
        "token_delay": 0.001,
        "possible_tokens": 6,
    }

    def test_the_lists_are_short_here(self, engine: Engine) -> None:
        """The suite's logprobs test meets short lists on this class, not only full ones."""
        config = RequestConfig(max_tokens=4, temperature=0.0, logprobs=True, top_logprobs=20)
        (response,) = engine.infer(QUESTION, config)
        assert response.choices[0].logprobs is not None
        entries = response.choices[0].logprobs.content or []
        assert entries
        assert [len(entry.top_logprobs) for entry in entries] == [6] * len(entries)
        # The wire form carries only finite numbers.
        assert "Infinity" not in response.model_dump_json()

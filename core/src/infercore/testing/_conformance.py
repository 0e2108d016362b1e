"""The conformance suite every backend passes.

A backend's test module subclasses :class:`BackendConformance` and names the
backend, a model and options; pytest collects the inherited tests. Tests for
a feature the backend does not declare in its :class:`~infercore.Capabilities`
are skipped, not failed.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from importlib import metadata
from typing import Any, ClassVar

import pytest

from infercore._backend import SAMPLING_FIELDS
from infercore._engine import Engine
from infercore._errors import InvalidRequestError
from infercore._plugins import ENTRY_POINT_GROUP, get_plugin_manager
from infercore._types import ChatCompletionResponse, RequestConfig
from infercore.testing._serving import deployed

__all__ = ["BackendConformance"]

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


def _wait_idle(engine: Engine) -> None:
    deadline = time.monotonic() + 5.0
    while engine.backend.active_requests and time.monotonic() < deadline:
        time.sleep(0.02)
    assert engine.backend.active_requests == 0


class BackendConformance:
    """Inherit from this class in a test module to run the suite on a backend.

    ``backend``, ``model`` and ``options`` say how to build the engine; one
    engine is shared by the whole class. ``max_tokens`` bounds every test's
    generation so the suite stays quick on a CPU.
    """

    backend: ClassVar[str]
    model: ClassVar[str]
    options: ClassVar[dict[str, Any]] = {}
    max_tokens: ClassVar[int] = 16

    # A classmethod: pytest deprecates class-scoped fixtures defined on the instance.
    @pytest.fixture(scope="class")
    @classmethod
    def engine(cls) -> Iterator[Engine]:
        with Engine(cls.model, backend=cls.backend, **cls.options) as engine:
            # A backend that does not sample (it declares no temperature) is greedy as it is.
            cls._sampling = engine.capabilities.sampling
            yield engine

    _sampling: ClassVar[frozenset[str]] = frozenset()

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

    def test_greedy_is_deterministic(self, engine: Engine) -> None:
        first = engine.infer(QUESTION, self._greedy())[0]
        second = engine.infer(QUESTION, self._greedy())[0]
        content = first.choices[0].message.content
        assert content
        assert content == second.choices[0].message.content

    def test_batched_greedy_equals_each_alone(self, engine: Engine) -> None:
        requests = QUESTION + OTHER_QUESTIONS
        together = engine.infer(requests, self._greedy())
        alone = [engine.infer([r], self._greedy())[0] for r in requests]
        assert [r.choices[0].message.content for r in together] == [
            r.choices[0].message.content for r in alone
        ]

    def test_max_tokens_is_honoured(self, engine: Engine) -> None:
        self._needs_sampling(engine, "ignore_eos")
        response = engine.infer(QUESTION, self._greedy(max_tokens=5, ignore_eos=True))[0]
        assert response.usage.completion_tokens == 5
        assert response.choices[0].finish_reason == "length"

    def test_stop_string_ends_the_text(self, engine: Engine) -> None:
        full = engine.infer(QUESTION, self._greedy())[0].choices[0].message.content
        assert full is not None
        assert len(full) >= 6
        stop = full[3:6]
        cut = full.index(stop)
        response = engine.infer(QUESTION, self._greedy(stop=[stop]))[0]
        assert response.choices[0].message.content == full[:cut]
        assert response.choices[0].finish_reason == "stop"

    def test_n_returns_n_choices(self, engine: Engine) -> None:
        self._needs_sampling(engine, "temperature", "seed")
        config = RequestConfig(max_tokens=self.max_tokens, temperature=1.0, seed=7, n=3)
        response = engine.infer(QUESTION, config)[0]
        assert [choice.index for choice in response.choices] == [0, 1, 2]
        assert len({choice.message.content for choice in response.choices}) > 1
        assert response.usage.completion_tokens <= 3 * self.max_tokens

    def test_seed_makes_sampling_repeat(self, engine: Engine) -> None:
        self._needs_sampling(engine, "temperature", "seed")
        config = RequestConfig(max_tokens=self.max_tokens, temperature=1.0, seed=1234)
        first = engine.infer(QUESTION, config)[0].choices[0].message.content
        second = engine.infer(QUESTION, config)[0].choices[0].message.content
        assert first == second

    def test_logprobs_shape(self, engine: Engine) -> None:
        top = engine.capabilities.max_top_logprobs
        if top is None:
            pytest.skip("backend does not declare logprobs")
        k = min(3, top)
        response = engine.infer(QUESTION, self._greedy(logprobs=True, top_logprobs=k))[0]
        choice = response.choices[0]
        assert choice.logprobs is not None
        assert choice.logprobs.content is not None
        entries = choice.logprobs.content
        assert len(entries) == response.usage.completion_tokens
        for entry in entries:
            assert entry.logprob <= 0.0
            assert len(entry.top_logprobs) == k
            values = [alt.logprob for alt in entry.top_logprobs]
            assert values == sorted(values, reverse=True)
            if k:
                # Greedy picks the most likely token, so it heads the list.
                assert entry.top_logprobs[0].token == entry.token
                assert entry.top_logprobs[0].logprob == pytest.approx(entry.logprob, abs=1e-3)

    def test_streamed_text_equals_non_streamed(self, engine: Engine) -> None:
        whole = engine.infer(QUESTION, self._greedy())[0]
        (stream,) = engine.stream(QUESTION, self._greedy())
        chunks = list(stream)
        assert chunks[0].choices[0].delta.role == "assistant"
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert text == whole.choices[0].message.content
        assert chunks[-1].choices[0].finish_reason == whole.choices[0].finish_reason
        assert len({chunk.id for chunk in chunks}) == 1

    def test_usage_matches_the_tokenizer(self, engine: Engine) -> None:
        tokenizer = engine.backend.tokenizer
        prompt = tokenizer.apply_chat_template(
            QUESTION[0]["messages"], tokenize=False, add_generation_prompt=True
        )
        expected = len(tokenizer.encode(prompt, add_special_tokens=False))
        response = engine.infer(QUESTION, self._greedy())[0]
        assert response.usage.prompt_tokens == expected
        assert response.usage.total_tokens == expected + response.usage.completion_tokens
        assert 0 < response.usage.completion_tokens <= self.max_tokens

    def test_cancelling_a_stream_frees_the_request(self, engine: Engine) -> None:
        # No ignore_eos: every backend must release a request that a caller drops.
        config = self._greedy(max_tokens=engine.backend.max_model_len // 2)
        (stream,) = engine.stream(QUESTION, config)
        next(stream)  # the role chunk
        next(stream)  # text
        stream.close()  # type: ignore[attr-defined]
        _wait_idle(engine)
        # The backend still serves after the cancellation.
        assert engine.infer(QUESTION, self._greedy(max_tokens=2))[0].choices

    def test_many_requests_at_once_all_finish_and_leave_none_active(self, engine: Engine) -> None:
        requests = (QUESTION + OTHER_QUESTIONS) * 4
        alone = {
            str(r["messages"]): engine.infer([r], self._greedy())[0].choices[0].message.content
            for r in QUESTION + OTHER_QUESTIONS
        }
        responses = engine.infer(requests, self._greedy())
        assert [r.choices[0].message.content for r in responses] == [
            alone[str(r["messages"])] for r in requests
        ]
        _wait_idle(engine)

    def test_results_come_as_they_complete_and_match_infer(self, engine: Engine) -> None:
        requests = QUESTION + OTHER_QUESTIONS
        in_order = engine.infer(requests, self._greedy())
        answered = dict(engine.infer_iter(requests, self._greedy()))
        assert sorted(answered) == list(range(len(requests)))
        assert [answered[i].choices[0].message.content for i in range(len(requests))] == [
            r.choices[0].message.content for r in in_order
        ]

    def test_a_prompt_over_the_context_is_refused_before_generation(self, engine: Engine) -> None:
        tokenizer = engine.backend.tokenizer
        too_long = "hello " * 64
        while (
            len(tokenizer.encode(too_long, add_special_tokens=False))
            <= engine.backend.max_model_len
        ):
            too_long *= 2
        request = [{"messages": [{"role": "user", "content": too_long}]}]
        with pytest.raises(InvalidRequestError) as refused:
            engine.infer(request, self._greedy())
        assert refused.value.param == "messages"
        with pytest.raises(InvalidRequestError) as overlong:
            engine.infer(QUESTION, self._greedy(max_tokens=engine.backend.max_model_len))
        assert overlong.value.param == "max_tokens"
        assert engine.backend.active_requests == 0

    def test_a_setting_the_backend_does_not_declare_is_refused(self, engine: Engine) -> None:
        undeclared = sorted(SAMPLING_FIELDS - engine.capabilities.sampling - {"ignore_eos"})
        if not undeclared:
            pytest.skip("backend declares every sampling setting")
        name = undeclared[0]
        value = 1 if name in ("seed", "top_k") else 0.5
        with pytest.raises(InvalidRequestError) as refused:
            engine.infer(QUESTION, self._greedy(**{name: value}))
        assert refused.value.param == name

    def test_served_through_deploy_to_the_openai_client(self, engine: Engine) -> None:
        """The whole server path: ``infercore deploy`` in a subprocess, the official client."""
        openai = pytest.importorskip("openai")
        pytest.importorskip("fastapi", reason="the server needs 'infercore[serve]'")
        plugin = get_plugin_manager().registry.get(engine.backend_name).plugin
        if not metadata.entry_points(group=ENTRY_POINT_GROUP, name=plugin):
            pytest.skip(f"backend {engine.backend_name!r} is registered here, not installed")
        flags = [f"-O{name}={json.dumps(value)}" for name, value in self.options.items()]
        whole = engine.infer(QUESTION, self._greedy())[0].choices[0].message.content
        args = ["--model", self.model, "--backend", engine.backend_name, *flags]
        with deployed(*args) as url:
            client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused")
            messages = QUESTION[0]["messages"]
            settings = self._greedy().model_dump(
                include={"max_tokens", "temperature"}, exclude_none=True
            )
            served = client.chat.completions.create(model=self.model, messages=messages, **settings)
            chunks = client.chat.completions.create(
                model=self.model, messages=messages, stream=True, **settings
            )
            streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
            client.close()
        assert served.choices[0].message.content == whole
        assert streamed == whole

    def test_async_and_sync_agree(self, engine: Engine) -> None:
        async def ask() -> ChatCompletionResponse:
            return await engine.infer_async(QUESTION[0], self._greedy())

        async_response = asyncio.run(ask())
        sync_response = engine.infer(QUESTION, self._greedy())[0]
        assert async_response.choices[0].message.content == sync_response.choices[0].message.content

"""The conformance suite's generation tests: what every backend's answers must satisfy."""

from __future__ import annotations

import asyncio
import math

import pytest

from infercore._engine import Engine
from infercore._types import ChatCompletionResponse, RequestConfig
from infercore.testing._suite import (
    OTHER_QUESTIONS,
    QUESTION,
    SuiteBase,
    answers,
    streamed_text,
    wait_idle,
)

__all__ = ["GenerationTests"]


class GenerationTests(SuiteBase):
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
        assert answers(together) == answers(alone)

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
        k = top  # the most a request may ask for, so a short list has room to show
        response = engine.infer(QUESTION, self._greedy(logprobs=True, top_logprobs=k))[0]
        choice = response.choices[0]
        assert choice.logprobs is not None
        assert choice.logprobs.content is not None
        entries = choice.logprobs.content
        assert len(entries) == response.usage.completion_tokens
        for entry in entries:
            assert entry.logprob <= 0.0
            values = [alt.logprob for alt in entry.top_logprobs]
            assert values == sorted(values, reverse=True)
            assert all(math.isfinite(value) for value in values)
            # k alternatives, or fewer only where fewer tokens are possible at all: then
            # the list holds every possible one and their probabilities sum to one.
            assert len(values) <= k
            if len(values) < k:
                assert math.fsum(math.exp(value) for value in values) == pytest.approx(
                    1.0, abs=1e-3
                )
            if k:
                # Greedy picks the most likely token, so it heads the list.
                assert entry.top_logprobs[0].token == entry.token
                assert entry.top_logprobs[0].logprob == pytest.approx(entry.logprob, abs=1e-3)

    def test_streamed_text_equals_non_streamed(self, engine: Engine) -> None:
        whole = engine.infer(QUESTION, self._greedy())[0]
        (stream,) = engine.stream(QUESTION, self._greedy())
        chunks = list(stream)
        assert chunks[0].choices[0].delta.role == "assistant"
        assert streamed_text(chunks) == whole.choices[0].message.content
        assert chunks[-1].choices[0].finish_reason == whole.choices[0].finish_reason
        assert len({chunk.id for chunk in chunks}) == 1

    def test_a_whole_answer_is_the_streamed_one_with_its_logprobs_and_usage(
        self, engine: Engine
    ) -> None:
        # A whole answer may come from the backend in one piece (``final_only``).
        top = engine.capabilities.max_top_logprobs
        logprobs = {"logprobs": True, "top_logprobs": min(top, 2)} if top is not None else {}
        whole = engine.infer(QUESTION, self._greedy(**logprobs))[0]
        usage = {"stream_options": {"include_usage": True}}
        (stream,) = engine.stream(QUESTION, self._greedy(**logprobs, **usage))
        chunks = list(stream)
        assert streamed_text(chunks) == whole.choices[0].message.content
        assert chunks[-1].usage == whole.usage
        if top is not None:
            assert whole.choices[0].logprobs is not None
            streamed = [
                entry
                for chunk in chunks
                if chunk.choices and chunk.choices[0].logprobs is not None
                for entry in chunk.choices[0].logprobs.content or ()
            ]
            entries = whole.choices[0].logprobs.content or []
            assert [e.token for e in entries] == [e.token for e in streamed]
            assert [e.logprob for e in entries] == pytest.approx(
                [e.logprob for e in streamed], abs=1e-3
            )

    def test_a_whole_answer_given_up_frees_the_request(self, engine: Engine) -> None:
        """A caller that stops waiting for a whole answer (its task cancelled): the
        backend releases the request at once, as for a stream."""
        self._needs_sampling(engine, "ignore_eos")
        config = self._greedy(max_tokens=engine.backend.max_model_len // 2, ignore_eos=True)

        async def give_up() -> None:
            task = asyncio.ensure_future(engine.infer_async(QUESTION[0], config))
            for _ in range(3000):  # 30 s at most
                if engine.backend.active_requests or task.done():
                    break
                await asyncio.sleep(0.01)
            assert engine.backend.active_requests, "the request was not running in the backend"
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        asyncio.run(give_up())
        wait_idle(engine)
        assert engine.infer(QUESTION, self._greedy(max_tokens=2))[0].choices

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
        wait_idle(engine)
        # The backend still serves after the cancellation.
        assert engine.infer(QUESTION, self._greedy(max_tokens=2))[0].choices

    def test_many_requests_at_once_all_finish_and_leave_none_active(self, engine: Engine) -> None:
        requests = (QUESTION + OTHER_QUESTIONS) * 4
        alone = {
            str(r["messages"]): engine.infer([r], self._greedy())[0].choices[0].message.content
            for r in QUESTION + OTHER_QUESTIONS
        }
        responses = engine.infer(requests, self._greedy())
        assert answers(responses) == [alone[str(r["messages"])] for r in requests]
        wait_idle(engine)

    def test_results_come_as_they_complete_and_match_infer(self, engine: Engine) -> None:
        requests = QUESTION + OTHER_QUESTIONS
        in_order = engine.infer(requests, self._greedy())
        answered = dict(engine.infer_iter(requests, self._greedy()))
        assert sorted(answered) == list(range(len(requests)))
        assert answers(answered[i] for i in range(len(requests))) == answers(in_order)

    def test_async_and_sync_agree(self, engine: Engine) -> None:
        async def ask() -> ChatCompletionResponse:
            return await engine.infer_async(QUESTION[0], self._greedy())

        async_response = asyncio.run(ask())
        sync_response = engine.infer(QUESTION, self._greedy())[0]
        assert async_response.choices[0].message.content == sync_response.choices[0].message.content

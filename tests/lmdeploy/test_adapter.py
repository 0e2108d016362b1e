"""The backend's adapter layer over a stand-in for LMDeploy's async engine (see
``lmdeploy_fake``): the token ids it sends, the deltas, finish reasons and logprobs it
makes of LMDeploy's outputs, sessions ended when a stream is closed or cancelled, and
LoRA adapters given to the PyTorch engine. Nothing here shows that LMDeploy runs: the
GPU tests do."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from lmdeploy_fake import ANSWER, FakeAsyncEngine
from transformers import AutoTokenizer

import infercore
from infercore import Delta, PluginManager, PreparedRequest, SamplingParams
from infercore_lmdeploy import _backend, _probe

MODEL = "smollm2-135m-instruct"
QUESTION = {"messages": [{"role": "user", "content": "What is the capital of France?"}]}


@pytest.fixture(scope="module")
def model_path() -> str:
    return PluginManager().registry.resolve_model(MODEL)


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch, model_path: str) -> PluginManager:
    """A plugin manager whose LMDeploy backend sees a GPU and builds the stand-in engine."""
    monkeypatch.setattr(_probe, "cuda_gpus", lambda: 1)
    monkeypatch.setattr(_backend, "AsyncEngine", FakeAsyncEngine)
    monkeypatch.setattr(FakeAsyncEngine, "instances", [])
    monkeypatch.setattr(FakeAsyncEngine, "tokenizer", AutoTokenizer.from_pretrained(model_path))
    return PluginManager()


def _engine(plugins: PluginManager, **options: Any) -> infercore.Engine:
    return infercore.Engine(MODEL, backend="lmdeploy", plugins=plugins, **options)


@pytest.fixture
def engine(plugins: PluginManager) -> Iterator[infercore.Engine]:
    with _engine(plugins) as engine:
        yield engine


def _fake(engine: infercore.Engine) -> FakeAsyncEngine:
    fake: FakeAsyncEngine = engine.backend._engine  # type: ignore[attr-defined]
    return fake


def test_the_engine_starts_on_the_async_api_with_lmdeploys_config(
    engine: infercore.Engine, model_path: str
) -> None:
    fake = _fake(engine)
    assert fake.started
    assert (fake.model_path, fake.backend) == (model_path, "turbomind")
    assert type(fake.backend_config).__name__ == "TurbomindEngineConfig"
    assert engine.backend.max_model_len == fake.session_len


def test_the_prompt_goes_as_the_core_renders_it_in_token_ids(engine: infercore.Engine) -> None:
    answer = engine.infer([QUESTION], {"max_tokens": 32})[0]
    tokenizer = engine.backend.tokenizer
    text = tokenizer.apply_chat_template(
        QUESTION["messages"], tokenize=False, add_generation_prompt=True
    )
    ids = tokenizer.encode(text, add_special_tokens=False)
    assert _fake(engine).prompts == [ids]
    assert answer.usage.prompt_tokens == len(ids)


def test_an_answer_ends_at_the_stop_token_which_counts_but_shows_no_text(
    engine: infercore.Engine,
) -> None:
    answer = engine.infer([QUESTION], {"max_tokens": 32})[0]
    choice = answer.choices[0]
    assert (choice.message.content, choice.finish_reason) == (ANSWER, "stop")
    tokens = engine.backend.tokenizer.encode(ANSWER, add_special_tokens=False)
    assert answer.usage.completion_tokens == len(tokens) + 1
    config = _fake(engine).gen_configs[0]
    assert config.stop_token_ids == [engine.backend.tokenizer.eos_token_id]


def test_max_tokens_ends_an_answer_with_length(engine: infercore.Engine) -> None:
    answer = engine.infer([QUESTION], {"max_tokens": 3})[0]
    tokens = engine.backend.tokenizer.encode(ANSWER, add_special_tokens=False)
    assert answer.choices[0].finish_reason == "length"
    assert answer.choices[0].message.content == engine.backend.tokenizer.decode(tokens[:3])
    assert answer.usage.completion_tokens == 3


def test_streamed_chunks_join_to_the_answer(engine: infercore.Engine) -> None:
    chunks = list(engine.stream([QUESTION], {"max_tokens": 32})[0])
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == ANSWER
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


def test_lmdeploy_streams_only_answers_that_are_read_as_they_come(
    engine: infercore.Engine,
) -> None:
    whole = engine.infer([QUESTION], {"max_tokens": 32})[0]
    stopped = engine.infer([QUESTION], {"max_tokens": 32, "stop": ["Paris"]})[0]
    chunks = list(engine.stream([QUESTION], {"max_tokens": 32})[0])

    assert _fake(engine).streamed == [False, True, True]
    assert whole.choices[0].message.content == ANSWER
    assert whole.choices[0].finish_reason == "stop"
    tokens = engine.backend.tokenizer.encode(ANSWER, add_special_tokens=False)
    assert whole.usage.completion_tokens == len(tokens) + 1
    assert stopped.choices[0].message.content == ANSWER.split("Paris")[0]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ANSWER


@pytest.mark.parametrize("engine_name", ["turbomind", "pytorch"])
def test_a_whole_answer_comes_to_the_core_in_one_delta(
    plugins: PluginManager, monkeypatch: pytest.MonkeyPatch, engine_name: str
) -> None:
    delta_counts: list[int] = []
    with _engine(plugins, engine=engine_name) as engine:
        generate = engine.backend.generate

        async def counted(request: PreparedRequest, params: SamplingParams) -> AsyncIterator[Delta]:
            count = 0
            try:
                async for delta in generate(request, params):
                    count += 1
                    yield delta
            finally:
                delta_counts.append(count)

        monkeypatch.setattr(engine.backend, "generate", counted)
        config = {"max_tokens": 32, "logprobs": True, "top_logprobs": 2}
        whole = engine.infer([QUESTION], config)[0]
        chunks = list(engine.stream([QUESTION], config)[0])

    tokens = engine.backend.tokenizer.encode(ANSWER, add_special_tokens=False)
    assert delta_counts == [1, len(tokens) + 1]
    assert whole.choices[0].message.content == ANSWER
    assert whole.choices[0].logprobs is not None
    streamed = [
        e
        for c in chunks
        if c.choices and c.choices[0].logprobs
        for e in c.choices[0].logprobs.content or ()
    ]
    assert whole.choices[0].logprobs.content == streamed


def test_logprobs_are_the_chosen_tokens_and_the_best_finite_alternatives(
    engine: infercore.Engine,
) -> None:
    answer = engine.infer([QUESTION], {"max_tokens": 32, "logprobs": True, "top_logprobs": 2})[0]
    assert answer.choices[0].logprobs is not None
    entries = answer.choices[0].logprobs.content
    tokens = engine.backend.tokenizer.encode(ANSWER, add_special_tokens=False)
    assert len(entries) == len(tokens) + 1
    for entry in entries:
        assert entry.logprob == -0.25
        assert [top.logprob for top in entry.top_logprobs] == [-0.25, -1.0]
    assert _fake(engine).gen_configs[0].logprobs == 2


def test_the_sampling_settings_reach_lmdeploy_with_do_sample(engine: infercore.Engine) -> None:
    settings = {"temperature": 0.6, "top_p": 0.8, "top_k": 20, "min_p": 0.1, "seed": 7}
    engine.infer([QUESTION], {"max_tokens": 32, "repetition_penalty": 1.1, **settings})
    config = _fake(engine).gen_configs[0]
    assert config.do_sample is True
    assert (config.temperature, config.top_p, config.top_k, config.min_p) == (0.6, 0.8, 20, 0.1)
    assert (config.repetition_penalty, config.random_seed) == (1.1, 7)


def test_ignore_eos_runs_to_max_tokens(engine: infercore.Engine) -> None:
    answer = engine.infer([QUESTION], {"max_tokens": 12, "ignore_eos": True})[0]
    assert answer.choices[0].finish_reason == "length"
    assert answer.usage.completion_tokens == 12
    assert _fake(engine).gen_configs[0].ignore_eos is True


@pytest.mark.parametrize(
    "setting", [{"presence_penalty": 0.5}, {"frequency_penalty": 0.5}, {"top_logprobs": 21}]
)
def test_a_setting_lmdeploy_does_not_honour_is_refused_before_it_is_sent(
    engine: infercore.Engine, setting: dict[str, Any]
) -> None:
    config = {"max_tokens": 8, **setting}
    if "top_logprobs" in setting:
        config["logprobs"] = True
    with pytest.raises(infercore.InvalidRequestError):
        engine.infer([QUESTION], config)
    assert _fake(engine).gen_configs == []


def _prepared(engine: infercore.Engine) -> PreparedRequest:
    return PreparedRequest("r1", "Hi", tuple(engine.backend.tokenizer.encode("Hi")))


def test_a_stream_closed_early_cancels_the_request_and_ends_its_session(
    engine: infercore.Engine,
) -> None:
    backend, fake = engine.backend, _fake(engine)

    async def read_one_then_close() -> int:
        deltas = backend.generate(_prepared(engine), SamplingParams(max_tokens=32))
        first = await anext(deltas)
        assert first.token_ids
        assert first.finish_reason is None
        running = backend.active_requests
        await deltas.aclose()
        return running

    assert engine.run_on_loop(read_one_then_close()) == 1
    assert len(fake.cancelled) == 1
    assert fake.session_mgr.sessions == {}
    assert backend.active_requests == 0


def test_a_finished_answer_is_not_cancelled_in_the_engine(engine: infercore.Engine) -> None:
    # LMDeploy's generator takes a close at its last output for an abandoned request.
    fake = _fake(engine)
    answers = engine.infer([QUESTION] * 3, {"max_tokens": 32})
    assert [a.choices[0].finish_reason for a in answers] == ["stop"] * 3
    assert fake.cancelled == []
    assert fake.session_mgr.sessions == {}


def test_a_cancelled_task_cancels_the_request_and_ends_its_session(
    engine: infercore.Engine,
) -> None:
    backend, fake = engine.backend, _fake(engine)

    async def cancel_while_generating() -> None:
        fake.flowing.clear()

        async def consume() -> None:
            async for _ in backend.generate(_prepared(engine), SamplingParams(max_tokens=32)):
                pass

        task = asyncio.create_task(consume())
        await fake.generating.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        fake.flowing.set()

    engine.run_on_loop(cancel_while_generating())
    assert len(fake.cancelled) == 1
    assert fake.session_mgr.sessions == {}
    assert fake.session_mgr.request_handle_pool.num_dispatched == 0
    assert backend.active_requests == 0


def test_lmdeploys_refusal_of_a_request_is_an_invalid_request(engine: infercore.Engine) -> None:
    async def empty_prompt() -> None:
        async for _ in engine.backend.generate(
            PreparedRequest("r1", "", ()), SamplingParams(max_tokens=8)
        ):
            pass

    with pytest.raises(infercore.InvalidRequestError, match="LMDeploy refuses the request"):
        engine.run_on_loop(empty_prompt())
    assert _fake(engine).session_mgr.sessions == {}


def _adapter(folder: Path) -> str:
    folder.mkdir()
    (folder / "adapter_config.json").write_text("{}")
    return str(folder)


def test_turbomind_refuses_lora_adapters(plugins: PluginManager, tmp_path: Path) -> None:
    with pytest.raises(infercore.InvalidRequestError, match="PyTorch engine only"):
        _engine(plugins, adapters={"a": _adapter(tmp_path / "a")})


def test_a_folder_without_an_adapter_is_refused(plugins: PluginManager, tmp_path: Path) -> None:
    with pytest.raises(infercore.InvalidRequestError, match=r"no adapter_config\.json"):
        _engine(plugins, engine="pytorch", adapters={"a": str(tmp_path)})


def test_the_pytorch_engine_starts_again_once_with_every_adapter(
    plugins: PluginManager, tmp_path: Path
) -> None:
    adapters = {name: _adapter(tmp_path / name) for name in ("a", "b")}
    with _engine(plugins, engine="pytorch", adapters=adapters) as engine:
        first = FakeAsyncEngine.instances[0]
        assert first.closed
        engine.infer([{**QUESTION, "adapter": "b"}, QUESTION], {"max_tokens": 4})
        assert len(FakeAsyncEngine.instances) == 2
        started = FakeAsyncEngine.instances[1]
        assert started.backend_config.adapters == adapters
        assert sorted(started.adapter_names, key=str) == [None, "b"]


def _lmdeploy_loop(ended: list[str]) -> Any:
    """A coroutine that runs as LMDeploy's engine loop does: in a module of lmdeploy's,
    until cancelled."""
    namespace: dict[str, Any] = {"__name__": "lmdeploy.pytorch.engine.engine", "asyncio": asyncio}
    exec(
        "async def engine_loop(ended):\n"
        "    try:\n"
        "        await asyncio.Event().wait()\n"
        "    finally:\n"
        "        await asyncio.sleep(0.01)\n"
        "        ended.append('engine_loop')\n",
        namespace,
    )
    return namespace["engine_loop"](ended)


def test_closing_lets_lmdeploys_tasks_end_on_the_loop(
    plugins: PluginManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    # close() of LMDeploy's engine only cancels its loops (here: one it cancels, one it
    # leaves); a loop closed before they end would destroy them mid-flight.
    monkeypatch.setattr(_backend, "_CLOSE_TIMEOUT_S", 0.2)
    ended: list[str] = []
    engine = _engine(plugins)

    async def start_loops() -> list[asyncio.Task[None]]:
        loops = [asyncio.create_task(_lmdeploy_loop(ended)) for _ in range(2)]
        monkeypatch.setattr(FakeAsyncEngine, "close", lambda self: loops[0].cancel())
        return loops

    loops = engine.run_on_loop(start_loops())
    engine.close()
    assert ended == ["engine_loop", "engine_loop"]
    assert all(loop.cancelled() for loop in loops)

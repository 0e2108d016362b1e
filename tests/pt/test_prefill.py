"""Prompts entering the pt backend's batch on the real SmolLM2: served from the prefix
cache and fed in chunks, they get the answers of a whole prefill of the whole prompt,
and a long prompt enters while the running streams keep decoding."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from infercore import ChatCompletionResponse, Engine, RequestConfig

pytest.importorskip("torch")
pytest.importorskip("transformers")

from infercore_pt._batch import Batch
from infercore_pt._prefill import Prefill

MODEL = "smollm2-135m-instruct"
SYSTEM = (
    "You are the help desk of a small railway museum. Answer in one short sentence, "
    "politely, and mention the museum's opening hours (nine to five) when it fits. "
) * 4
QUESTIONS = ["Where can I park?", "Do you sell tickets online?", "Is there a cafe?"]
CONFIG = RequestConfig(temperature=0.0, max_tokens=16, logprobs=True)
#: A step budget small enough that every prompt here enters in several chunks.
STEP_TOKENS = 24


def ask(question: str) -> dict[str, Any]:
    return {
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]
    }


@pytest.fixture(scope="module")
def whole() -> Iterator[Engine]:
    """Every prompt prefilled whole, nothing cached: the reference."""
    options = {"enable_prefix_caching": False, "enable_chunked_prefill": False}
    with Engine(MODEL, backend="pt", dtype="float32", **options) as engine:
        yield engine


@pytest.fixture(scope="module")
def chunked() -> Iterator[Engine]:
    with Engine(MODEL, backend="pt", dtype="float32", max_num_batched_tokens=STEP_TOKENS) as engine:
        yield engine


Event = tuple[str, int]


@pytest.fixture
def events(monkeypatch: pytest.MonkeyPatch) -> list[Event]:
    """What the scheduler does, in order: ("enter", prompt columns left to feed after
    the prefix cache) for each group of prompts that starts entering, ("feed", 1 if
    that was the group's last chunk) for each chunk, ("step", rows) for each decode step."""
    log: list[Event] = []
    start, feed, step = Prefill.__init__, Prefill.feed, Batch.step

    def spy_start(self: Prefill, *args: Any, **kwargs: Any) -> None:
        start(self, *args, **kwargs)
        log.append(("enter", self.width))

    def spy_feed(self: Prefill, model: Any, columns: int | None) -> Any:
        entered = feed(self, model, columns)
        log.append(("feed", int(entered is not None)))
        return entered

    def spy_step(self: Batch, model: Any) -> Any:
        log.append(("step", len(self.members)))
        return step(self, model)

    monkeypatch.setattr(Prefill, "__init__", spy_start)
    monkeypatch.setattr(Prefill, "feed", spy_feed)
    monkeypatch.setattr(Batch, "step", spy_step)
    return log


def first_logprob(response: ChatCompletionResponse) -> float:
    logprobs = response.choices[0].logprobs
    assert logprobs is not None
    assert logprobs.content
    return logprobs.content[0].logprob


def assert_same_answers(
    got: list[ChatCompletionResponse], want: list[ChatCompletionResponse]
) -> None:
    for mine, theirs in zip(got, want, strict=True):
        assert mine.choices[0].message.content == theirs.choices[0].message.content
        assert first_logprob(mine) == pytest.approx(first_logprob(theirs), abs=1e-3)


def test_prompts_served_from_the_prefix_cache_get_the_whole_prompts_answers(
    whole: Engine, chunked: Engine, events: list[Event]
) -> None:
    want = whole.infer([ask(q) for q in QUESTIONS], CONFIG)
    events.clear()
    first = chunked.infer([ask(QUESTIONS[0])], CONFIG)
    (cold,) = [columns for what, columns in events if what == "enter"]
    events.clear()
    rest = chunked.infer([ask(q) for q in QUESTIONS[1:]], CONFIG)
    (warm,) = [columns for what, columns in events if what == "enter"]
    # The shared system prompt came from the cache: little more than the questions was fed.
    assert warm < cold - 64
    assert_same_answers(first + rest, want)


def test_a_long_prompt_enters_in_chunks_while_a_stream_keeps_decoding(
    whole: Engine, chunked: Engine, events: list[Event]
) -> None:
    running = {"messages": [{"role": "user", "content": "Count from one to fifty in words."}]}
    long_config = RequestConfig(temperature=0.0, max_tokens=60, ignore_eos=True)
    want_running = whole.infer([running], long_config)
    long_question = ask("Tell me about the steam engines. " * 10)
    want_long = whole.infer([long_question], CONFIG)

    events.clear()
    (stream,) = chunked.stream([running], long_config)
    head = [next(stream) for _ in range(3)]  # the stream is decoding
    answers: list[ChatCompletionResponse] = []
    entering = threading.Thread(
        target=lambda: answers.extend(chunked.infer([long_question], CONFIG))
    )
    entering.start()
    rest = list(stream)
    entering.join()

    pieces = [c.choices[0].delta.content or "" for c in head + rest if c.choices]
    assert "".join(pieces) == want_running[0].choices[0].message.content
    assert_same_answers(answers, want_long)
    enters = [i for i, (what, _) in enumerate(events) if what == "enter"]
    assert len(enters) == 2  # the stream's prompt, then the long one
    entering = events[enters[1] :]
    entered = entering.index(("feed", 1))
    chunks = entering[:entered].count(("feed", 0)) + 1
    assert chunks >= 3
    # The running stream decoded a token in every step the long prompt took to enter.
    assert entering[:entered].count(("step", 1)) >= chunks - 1

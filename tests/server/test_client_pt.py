"""``InferClient`` against the real server on the pt backend and SmolLM2: a real model's answers.

What the echo backend cannot show: sampling settings sent through, and
logprobs, including the completions API's logprobs converted to the chat
shape that ``Engine`` returns.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from infercore import ChatCompletionResponse, InferClient
from infercore.testing import deployed

pytest.importorskip("torch")
pytest.importorskip("transformers")

MODEL = "smollm2-135m-instruct"
GREEDY = {"temperature": 0.0, "max_tokens": 8}


@pytest.fixture(scope="module")
def client() -> Iterator[InferClient]:
    # One torch thread: the server shares two cores with this client.
    server = deployed(
        "--model", MODEL, "--backend", "pt", "-O", "dtype=float32", env={"OMP_NUM_THREADS": "1"}
    )
    with server as url, InferClient(url) as client:
        yield client


def test_a_chat_through_the_client_answers_the_question(client: InferClient) -> None:
    question = {"messages": [{"role": "user", "content": "What is the capital of France?"}]}
    (response,) = client.infer([question], GREEDY)
    assert isinstance(response, ChatCompletionResponse)
    assert "Paris" in (response.choices[0].message.content or "")
    (stream,) = client.stream([question], GREEDY)
    chunks = list(stream)
    streamed = "".join(c.delta.content or "" for chunk in chunks for c in chunk.choices)
    assert streamed == response.choices[0].message.content


def test_completions_logprobs_come_back_in_the_chat_shape(client: InferClient) -> None:
    config = {**GREEDY, "max_tokens": 4, "logprobs": True, "top_logprobs": 2}
    (response,) = client.infer([{"prompt": "The capital of France is"}], config)
    assert isinstance(response, ChatCompletionResponse)
    choice = response.choices[0]
    assert choice.logprobs is not None
    assert choice.logprobs.content is not None
    entries = choice.logprobs.content
    assert len(entries) == response.usage.completion_tokens == 4
    assert "".join(entry.token for entry in entries) == choice.message.content
    for entry in entries:
        assert entry.bytes == list(entry.token.encode())
        # Greedy: the chosen token is the best, and exactly two alternatives are listed.
        assert len(entry.top_logprobs) == 2
        assert entry.top_logprobs[0].token == entry.token
        assert entry.top_logprobs[0].logprob == pytest.approx(entry.logprob)
        assert entry.top_logprobs[0].logprob >= entry.top_logprobs[1].logprob

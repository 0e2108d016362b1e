"""``infercore deploy --backend lmdeploy`` serving the official ``openai`` client, on a CUDA
GPU: a chat answer, a stream, and a setting LMDeploy does not honour refused with a 400."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from lmdeploy_gpu import LMDEPLOY_OPTIONS, requires_gpu

from infercore.testing import deployed

pytestmark = requires_gpu

MODEL = "smollm2-135m-instruct"
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module", params=["turbomind", "pytorch"])
def client(request: pytest.FixtureRequest) -> Iterator[openai.OpenAI]:
    options = {**LMDEPLOY_OPTIONS, "engine": request.param}
    flags = [item for name, value in options.items() for item in ("-O", f"{name}={value}")]
    with deployed(
        "--model", MODEL, "--backend", "lmdeploy", *flags, start_timeout=300
    ) as url:  # fmt: skip
        yield openai.OpenAI(base_url=f"{url}/v1", api_key="unused")


def test_a_chat_answer(client: openai.OpenAI) -> None:
    answer = client.chat.completions.create(
        model=MODEL,
        messages=QUESTION,
        temperature=0,
        max_tokens=32,  # type: ignore[arg-type]
    )
    assert answer.choices[0].message.content == "The capital of France is Paris."
    assert answer.choices[0].finish_reason == "stop"
    assert answer.usage is not None
    assert answer.usage.completion_tokens > 0


def test_a_streamed_answer(client: openai.OpenAI) -> None:
    chunks = client.chat.completions.create(
        model=MODEL,
        messages=QUESTION,  # type: ignore[arg-type]
        temperature=0,
        max_tokens=32,
        stream=True,
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "The capital of France is Paris."


def test_a_presence_penalty_is_refused(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="presence_penalty"):
        client.chat.completions.create(
            model=MODEL,
            messages=QUESTION,  # type: ignore[arg-type]
            presence_penalty=0.5,
            max_tokens=8,
        )

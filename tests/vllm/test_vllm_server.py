"""``infercore deploy --backend vllm`` serving the official ``openai`` client."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest
from vllm_settings import VLLM_OPTIONS

from infercore.testing import deployed

MODEL = "smollm2-135m-instruct"
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def client() -> Iterator[openai.OpenAI]:
    options = [item for name, value in VLLM_OPTIONS.items() for item in ("-O", f"{name}={value}")]
    with deployed("--model", MODEL, "--backend", "vllm", *options, start_timeout=600) as url:
        yield openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)


def test_chat(client: openai.OpenAI) -> None:
    response = client.chat.completions.create(
        model=MODEL,
        messages=QUESTION,
        max_tokens=16,
        temperature=0,  # type: ignore[arg-type]
    )
    assert "Paris" in (response.choices[0].message.content or "")
    assert response.usage is not None
    assert response.usage.completion_tokens <= 16


def test_streaming_chat_equals_the_whole_answer(client: openai.OpenAI) -> None:
    whole = client.chat.completions.create(
        model=MODEL,
        messages=QUESTION,
        max_tokens=16,
        temperature=0,  # type: ignore[arg-type]
    )
    stream = client.chat.completions.create(
        model=MODEL,
        messages=QUESTION,  # type: ignore[arg-type]
        max_tokens=16,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens  # type: ignore[union-attr]


def test_completions_of_a_raw_prompt(client: openai.OpenAI) -> None:
    response = client.completions.create(
        model=MODEL, prompt="The capital of France is", max_tokens=8, temperature=0
    )
    assert response.object == "text_completion"
    assert response.choices[0].text.strip()
    assert response.choices[0].finish_reason in {"stop", "length"}

"""``infercore deploy --backend vllm`` serving the official ``openai`` client, with a
reasoning parser: a structured answer after the thinking equals the pt backend's."""

from __future__ import annotations

import json
from collections.abc import Iterator

import jsonschema
import openai
import pytest
from reasoning_prompts import PLACE_SCHEMA, thinking_examples
from vllm_settings import VLLM_OPTIONS

import infercore
from infercore.testing import deployed

MODEL = "smollm2-135m-instruct"
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture(scope="module")
def client() -> Iterator[openai.OpenAI]:
    options = [item for name, value in VLLM_OPTIONS.items() for item in ("-O", f"{name}={value}")]
    flags = ["--model", MODEL, "--backend", "vllm", "--reasoning-parser", "qwen3", *options]
    with deployed(*flags, start_timeout=600) as url:
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


def test_a_structured_answer_after_the_thinking_equals_the_pt_backends(
    client: openai.OpenAI,
) -> None:
    conversations = [thinking_examples(city) for city in ("Berlin", "Madrid")]
    fields = {"temperature": 0.0, "max_tokens": 60}
    served = [
        client.chat.completions.create(
            model=MODEL, messages=messages, extra_body={"json_schema": PLACE_SCHEMA}, **fields
        ).choices[0]
        for messages in conversations
    ]
    with infercore.Engine(MODEL, backend="pt", dtype="float32", reasoning_parser="qwen3") as engine:
        ours = [
            response.choices[0]
            for response in engine.infer(
                [{"messages": messages} for messages in conversations],
                {**fields, "json_schema": PLACE_SCHEMA},
            )
        ]

    for theirs, mine in zip(served, ours, strict=True):
        reasoning = theirs.message.reasoning  # type: ignore[attr-defined]
        assert (reasoning, theirs.message.content) == (mine.message.reasoning, mine.message.content)
        assert reasoning
        jsonschema.validate(json.loads(theirs.message.content or ""), PLACE_SCHEMA)

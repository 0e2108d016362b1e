"""LMDeploy against the pt backend on SmolLM2, on a CUDA GPU: the same prompt tokens, and
greedy answers that agree, on TurboMind and on the PyTorch engine."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from lmdeploy_gpu import ENGINES, LMDEPLOY_OPTIONS, requires_gpu

import infercore

pytestmark = requires_gpu

MODEL = "smollm2-135m-instruct"
GREEDY = {"temperature": 0.0, "max_tokens": 32}
PROMPTS = [
    "What is the capital of France?",
    "Name three colours.",
    "Write one sentence about the sea.",
    "What is 2 + 2?",
    "Give me a synonym for happy.",
    "What do bees make?",
    "Translate 'good morning' into French.",
    "What is the largest planet in our solar system?",
    "How many days are in a week?",
    "Who wrote Romeo and Juliet?",
]
CONVERSATIONS: list[list[dict[str, Any]]] = [
    [{"role": "user", "content": PROMPTS[0]}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi 👋 世界"}],
    [
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi there."},
        {"role": "user", "content": "How are you?"},
    ],
]


@pytest.fixture(scope="module", params=ENGINES)
def lmdeploy_engine(request: pytest.FixtureRequest) -> Iterator[infercore.Engine]:
    options = {**LMDEPLOY_OPTIONS, "engine": request.param}
    with infercore.Engine(MODEL, backend="lmdeploy", **options) as engine:
        yield engine


@pytest.fixture(scope="module")
def pt_engine() -> Iterator[infercore.Engine]:
    with infercore.Engine(MODEL, backend="pt", dtype="float32") as engine:
        yield engine


def _texts(engine: infercore.Engine, prompts: list[str]) -> list[str]:
    requests = [{"messages": [{"role": "user", "content": prompt}]} for prompt in prompts]
    return [r.choices[0].message.content or "" for r in engine.infer(requests, GREEDY)]


def test_both_backends_send_the_same_prompt_tokens(
    lmdeploy_engine: infercore.Engine, pt_engine: infercore.Engine
) -> None:
    for messages in CONVERSATIONS:
        ids = []
        for engine in (lmdeploy_engine, pt_engine):
            tokenizer = engine.backend.tokenizer
            text = tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
            ids.append(tokenizer.encode(text, add_special_tokens=False))
        assert ids[0] == ids[1]
        usage = [
            engine.infer([{"messages": messages}], {"max_tokens": 1})[0].usage.prompt_tokens
            for engine in (lmdeploy_engine, pt_engine)
        ]
        assert usage == [len(ids[0])] * 2


def test_greedy_answers_agree_with_the_pt_backend(
    lmdeploy_engine: infercore.Engine, pt_engine: infercore.Engine
) -> None:
    ours, theirs = _texts(lmdeploy_engine, PROMPTS), _texts(pt_engine, PROMPTS)
    agree = sum(a == b for a, b in zip(ours, theirs, strict=True))
    # LMDeploy computes in half precision, pt in float32: near ties may break apart.
    print(f"LMDeploy and pt agree on {agree} of {len(PROMPTS)} greedy answers of 32 tokens")
    assert agree >= len(PROMPTS) // 2
    assert ours[0] == "The capital of France is Paris."


def test_a_sampled_answer_depends_on_its_seed(lmdeploy_engine: infercore.Engine) -> None:
    # Different seeds at a high temperature give different answers: the request samples
    # (LMDeploy's do_sample) rather than decoding greedily, as LMDeploy's default would.
    request = [{"messages": [{"role": "user", "content": PROMPTS[2]}]}]
    answers = {
        lmdeploy_engine.infer(request, {"temperature": 1.5, "seed": seed, "max_tokens": 24})[0]
        .choices[0]
        .message.content
        for seed in range(4)
    }
    assert len(answers) > 1

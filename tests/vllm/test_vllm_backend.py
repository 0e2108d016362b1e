"""vLLM against the pt backend on the same model: prompts, outputs, LoRA adapters,
structured output (after a reasoning model's thinking too) and forced tool calls."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from lora_models import make_lora_adapter
from reasoning_prompts import PLACE_SCHEMA, thinking_examples
from vllm_settings import VLLM_OPTIONS

import infercore
from infercore.testing._structured_suite import CITY_SCHEMA

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
    "Name a famous painter.",
    "How many days are in a week?",
    "What is the opposite of cold?",
    "Write a haiku about rain.",
    "What language is spoken in Brazil?",
    "What is water made of?",
    "Suggest a name for a cat.",
    "What is the boiling point of water in Celsius?",
    "Who wrote Romeo and Juliet?",
    "What colour is the sky on a clear day?",
    "Name a fruit that is yellow.",
    "What is the square root of 81?",
]


def _chat(content: str, **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": content}], **extra}


def _texts(engine: infercore.Engine, requests: list[dict[str, Any]]) -> list[str]:
    responses = engine.infer(requests, GREEDY)
    return [r.choices[0].message.content or "" for r in responses]  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def adapter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = infercore.get_plugin_manager().registry.resolve_model(MODEL)
    return make_lora_adapter(path, tmp_path_factory.mktemp("lora") / "a")


@pytest.fixture(scope="module")
def vllm_engine(adapter: Path) -> Iterator[infercore.Engine]:
    options = {**VLLM_OPTIONS, "enable_lora": True, "max_lora_rank": 8}
    with infercore.Engine(MODEL, backend="vllm", adapters={"a": str(adapter)}, **options) as e:
        yield e


@pytest.fixture(scope="module")
def pt_engine(adapter: Path) -> Iterator[infercore.Engine]:
    with infercore.Engine(MODEL, backend="pt", dtype="float32", adapters={"a": str(adapter)}) as e:
        yield e


def test_both_backends_send_the_same_prompt_tokens(
    vllm_engine: infercore.Engine, pt_engine: infercore.Engine
) -> None:
    conversations = [
        _chat(PROMPTS[0])["messages"],
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi 👋 世界"}],
        [
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Hi there."},
            {"role": "user", "content": "How are you?"},
        ],
    ]
    for messages in conversations:
        ids = []
        for engine in (vllm_engine, pt_engine):
            tokenizer = engine.backend.tokenizer
            prompt = tokenizer.apply_chat_template(
                messages, tokenize=False, add_generation_prompt=True
            )
            ids.append(tokenizer.encode(prompt, add_special_tokens=False))
        assert ids[0] == ids[1]
        usage = [
            engine.infer([{"messages": messages}], {"max_tokens": 1})[0].usage.prompt_tokens  # type: ignore[union-attr]
            for engine in (vllm_engine, pt_engine)
        ]
        assert usage == [len(ids[0])] * 2


def test_greedy_outputs_agree_with_the_pt_backend(
    vllm_engine: infercore.Engine, pt_engine: infercore.Engine
) -> None:
    requests = [_chat(prompt) for prompt in PROMPTS]
    ours, theirs = _texts(vllm_engine, requests), _texts(pt_engine, requests)
    agree = sum(a == b for a, b in zip(ours, theirs, strict=True))
    print(f"vLLM and pt agree on {agree} of {len(PROMPTS)} greedy outputs of 32 tokens")
    assert agree >= 16


def test_an_adapter_changes_the_output_as_on_the_pt_backend(
    vllm_engine: infercore.Engine, pt_engine: infercore.Engine
) -> None:
    question = _chat(PROMPTS[0])
    base, adapted = _texts(vllm_engine, [question, {**question, "adapter": "a"}])
    assert adapted != base
    assert adapted == _texts(pt_engine, [{**question, "adapter": "a"}])[0]


def test_an_unknown_adapter_is_refused(vllm_engine: infercore.Engine) -> None:
    with pytest.raises(infercore.InvalidRequestError, match="unknown adapter 'b'"):
        vllm_engine.infer([_chat(PROMPTS[0], adapter="b")], GREEDY)


def test_a_sampling_setting_vllm_gets_is_honoured(vllm_engine: infercore.Engine) -> None:
    config = {"temperature": 1.0, "seed": 11, "max_tokens": 24}
    first = vllm_engine.infer([_chat(PROMPTS[2])], config)[0]
    again = vllm_engine.infer([_chat(PROMPTS[2])], config)[0]
    other = vllm_engine.infer([_chat(PROMPTS[2])], {**config, "seed": 12})[0]
    text = first.choices[0].message.content  # type: ignore[union-attr]
    assert text == again.choices[0].message.content  # type: ignore[union-attr]
    assert text != other.choices[0].message.content  # type: ignore[union-attr]


def test_lora_needs_enable_lora(adapter: Path) -> None:
    with pytest.raises(infercore.InvalidRequestError, match="enable_lora"):
        infercore.Engine(MODEL, backend="vllm", adapters={"a": str(adapter)}, **VLLM_OPTIONS)


@pytest.mark.parametrize(
    "constraint",
    [
        {"json_schema": CITY_SCHEMA},
        {"response_format": {"type": "json_object"}},
        {"regex": r"[A-Z][a-z]{1,12} [0-9]{2}"},
        {"choice": ["Paris", "London", "Zürich"]},
    ],
)
def test_both_backends_give_the_same_structured_answers_greedy(
    vllm_engine: infercore.Engine, pt_engine: infercore.Engine, constraint: dict[str, Any]
) -> None:
    requests = [_chat(prompt) for prompt in PROMPTS[:4]]
    config = {"temperature": 0.0, "max_tokens": 64, **constraint}
    ours = [r.choices[0] for r in pt_engine.infer(requests, config)]
    theirs = [r.choices[0] for r in vllm_engine.infer(requests, config)]
    assert [c.message.content for c in theirs] == [c.message.content for c in ours]
    assert {c.finish_reason for c in theirs} == {"stop"}
    if "json_schema" in constraint:
        for choice in theirs:
            jsonschema.validate(json.loads(choice.message.content or ""), CITY_SCHEMA)


def test_a_constraint_vllm_cannot_compile_is_refused_before_generation(
    vllm_engine: infercore.Engine,
) -> None:
    with pytest.raises(infercore.InvalidRequestError) as refused:
        vllm_engine.infer([_chat(PROMPTS[0])], {"max_tokens": 4, "regex": "(unclosed"})
    assert refused.value.param == "regex"
    assert vllm_engine.backend.active_requests == 0


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "maxLength": 20}},
            "required": ["city"],
        },
    },
}


@pytest.mark.parametrize(
    "tool_choice", ["required", {"type": "function", "function": {"name": "get_weather"}}]
)
def test_both_backends_make_the_same_forced_tool_calls(
    vllm_engine: infercore.Engine, pt_engine: infercore.Engine, tool_choice: Any
) -> None:
    requests = [
        _chat(f"What is the weather in {city}?", tools=[WEATHER_TOOL], tool_choice=tool_choice)
        for city in ("Paris", "Oslo")
    ]
    config = {"temperature": 0.0, "max_tokens": 48}

    def calls(engine: infercore.Engine) -> list[list[tuple[str, Any]]]:
        return [
            [(c.function.name, json.loads(c.function.arguments)) for c in m.tool_calls or []]
            for m in (r.choices[0].message for r in engine.infer(requests, config))
        ]

    ours = calls(pt_engine)
    assert calls(vllm_engine) == ours
    for answer in ours:
        assert answer
        assert all(name == "get_weather" and "city" in arguments for name, arguments in answer)


def _raw_answers(
    engine: infercore.Engine, conversations: list[Any], structured: infercore.StructuredOutput
) -> list[str]:
    """The backend's own text for each conversation, greedy, under ``structured``: what
    an engine with a reasoning parser hands its backend, below the parse."""
    backend = engine.backend

    async def answer(messages: Any) -> str:
        prompt = backend.tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=True
        )
        ids = backend.tokenizer.encode(prompt, add_special_tokens=False)
        prepared = await backend.prepare(infercore.PreparedRequest(uuid.uuid4().hex, prompt, ids))
        await backend.check_structured(structured)
        params = infercore.SamplingParams(max_tokens=60, temperature=0.0, structured=structured)
        return "".join([delta.text async for delta in backend.generate(prepared, params)])

    return [engine.run_on_loop(answer(messages)) for messages in conversations]


@pytest.mark.parametrize("opened", [False, True])
def test_both_backends_think_then_answer_in_the_schema_alike(
    vllm_engine: infercore.Engine, pt_engine: infercore.Engine, opened: bool
) -> None:
    tags = infercore.ReasoningTags("<think>", "</think>", opened)
    structured = infercore.StructuredOutput("json_schema", json.dumps(PLACE_SCHEMA), reasoning=tags)
    conversations = [thinking_examples(city) for city in ("Berlin", "Madrid")]

    ours = _raw_answers(pt_engine, conversations, structured)
    assert _raw_answers(vllm_engine, conversations, structured) == ours
    for text in ours:
        thinking, _, answer = text.partition("</think>")
        assert thinking.removeprefix("<think>").strip()
        jsonschema.validate(json.loads(answer), PLACE_SCHEMA)

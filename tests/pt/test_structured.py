"""Structured output on the pt backend, beyond the conformance suite: sampled rows of
every kind, grammars compiled once, a complete grammar ending the row, escaping, and the
answer after a reasoning model's thinking."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from typing import Any

import jsonschema
import pytest

from infercore import ChatCompletionResponse, Engine, RequestConfig

pytest.importorskip("torch")
pytest.importorskip("xgrammar")

from reasoning_prompts import PLACE_SCHEMA, thinking_examples

from infercore.testing._structured_suite import CITY_SCHEMA, DATE_REGEX, STRUCTURED_MAX_TOKENS

QUESTION = {"messages": [{"role": "user", "content": "Tell me about a city."}]}
OTHER = {"messages": [{"role": "user", "content": "Write one sentence about the sea."}]}
TRICKY_CHOICES = ['say "yes"', "Zürich \\ 東京", "no\nway"]


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    with Engine("smollm2-135m-instruct", backend="pt", dtype="float32") as engine:
        yield engine


def _texts(response: ChatCompletionResponse) -> list[str]:
    return [choice.message.content or "" for choice in response.choices]


def test_sampled_answers_of_every_kind_hold_beside_sampled_free_rows(engine: Engine) -> None:
    free = RequestConfig(temperature=1.0, seed=5, max_tokens=12)
    configs: list[tuple[RequestConfig, Any]] = [
        (
            RequestConfig(
                temperature=1.0, seed=1, max_tokens=STRUCTURED_MAX_TOKENS, json_schema=CITY_SCHEMA
            ),
            None,
        ),
        (RequestConfig(temperature=1.0, seed=2, max_tokens=32, regex=DATE_REGEX), None),
        (RequestConfig(temperature=1.0, seed=3, max_tokens=32, choice=TRICKY_CHOICES), None),
    ]
    alone = engine.infer([OTHER], free)[0]

    async def together() -> list[ChatCompletionResponse]:
        return await asyncio.gather(
            *(engine.infer_async(QUESTION, config) for config, _ in configs),
            engine.infer_async(OTHER, free),
        )

    schema_row, regex_row, choice_row, free_row = asyncio.run(together())
    jsonschema.validate(json.loads(_texts(schema_row)[0]), CITY_SCHEMA)
    assert re.fullmatch(DATE_REGEX, _texts(regex_row)[0])
    assert _texts(choice_row)[0] in TRICKY_CHOICES
    for row in (schema_row, regex_row, choice_row):
        assert row.choices[0].finish_reason == "stop"
    # A seeded free row samples the same tokens whatever shares its batch.
    assert _texts(free_row) == _texts(alone)


def test_a_schema_compiles_once_for_every_request_that_asks_for_it(engine: Engine) -> None:
    compile_cache = engine.backend._grammars.compile
    config = RequestConfig(temperature=0.0, max_tokens=2, json_schema=CITY_SCHEMA)
    engine.infer([QUESTION], config)
    before = compile_cache.cache_info()
    engine.infer([QUESTION, OTHER], config.model_copy(update={"json_schema": dict(CITY_SCHEMA)}))
    after = compile_cache.cache_info()
    assert after.misses == before.misses
    assert after.hits >= before.hits + 1


def test_a_complete_grammar_ends_the_row_even_under_ignore_eos(engine: Engine) -> None:
    config = RequestConfig(temperature=0.0, max_tokens=40, ignore_eos=True, choice=["Paris"])
    response = engine.infer([QUESTION], config)[0]
    assert _texts(response) == ["Paris"]
    assert response.choices[0].finish_reason == "stop"
    assert response.usage.completion_tokens < 40


@pytest.mark.parametrize("parser", ["qwen3", "deepseek_r1"])
def test_the_answer_after_the_thinking_holds_to_the_schema(parser: str) -> None:
    requests = [{"messages": thinking_examples(city)} for city in ("Berlin", "Madrid")]
    greedy = RequestConfig(temperature=0.0, max_tokens=60, json_schema=PLACE_SCHEMA)
    sampled = RequestConfig(temperature=1.0, seed=3, n=3, max_tokens=60, json_schema=PLACE_SCHEMA)
    with Engine(
        "smollm2-135m-instruct", backend="pt", dtype="float32", reasoning_parser=parser
    ) as engine:
        first = [response.choices[0] for response in engine.infer(requests, greedy)]
        more = [
            choice for response in engine.infer(requests, sampled) for choice in response.choices
        ]

    for choice in first:
        assert choice.finish_reason == "stop"
    # A sampled answer may think until max_tokens (a deepseek_r1 answer is thinking until it
    # writes </think>); every answer that ends holds to the schema after its thinking.
    ended = [choice for choice in first + more if choice.finish_reason == "stop"]
    assert len(ended) > len(first)
    for choice in ended:
        assert choice.message.reasoning
        jsonschema.validate(json.loads(choice.message.content or ""), PLACE_SCHEMA)
    # The properties come in the schema's order.
    assert list(json.loads(first[0].message.content or "")) == ["name", "country"]

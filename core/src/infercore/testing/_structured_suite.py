"""The conformance suite's structured-output tests: refused where not declared, and
where declared, answers that parse and validate, greedy and sampled, in mixed batches."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import jsonschema
import pytest

from infercore._engine import Engine
from infercore._errors import InvalidRequestError
from infercore._types import ChatCompletionResponse, RequestConfig
from infercore.testing._suite import OTHER_QUESTIONS, QUESTION, SuiteBase, answers, streamed_text

__all__ = ["StructuredTests"]

#: Small enough to finish well inside the suite's token budget, with bounds that
#: keep a sampled answer from running on (a long string, a huge number).
CITY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "maxLength": 20},
        "country": {"type": "string", "maxLength": 20},
        "population_millions": {"type": "integer", "minimum": 0, "maximum": 99},
    },
    "required": ["city", "country", "population_millions"],
    "additionalProperties": False,
}
#: A date, matched in full.
DATE_REGEX = r"[12][0-9]{3}-(0[1-9]|1[0-2])-[0-3][0-9]"
CHOICES = ["Paris", "London", "Zürich"]
#: Room for CITY_SCHEMA's longest answer: sampled strings may be any script, and a
#: character a tokenizer lacks takes a token per UTF-8 byte (up to four), so the two
#: strings' 40 characters alone may take 160 tokens.
STRUCTURED_MAX_TOKENS = 192


def _content(response: ChatCompletionResponse, index: int = 0) -> str:
    content = response.choices[index].message.content
    assert content is not None
    return content


class StructuredTests(SuiteBase):
    def _needs_structured(self, engine: Engine) -> None:
        if not engine.capabilities.structured_output:
            pytest.skip("backend does not declare structured_output")

    def _structured(self, **overrides: Any) -> RequestConfig:
        return self._greedy(max_tokens=STRUCTURED_MAX_TOKENS, **overrides)

    @pytest.mark.parametrize(
        ("fields", "param"),
        [
            ({"json_schema": CITY_SCHEMA}, "json_schema"),
            ({"response_format": {"type": "json_object"}}, "response_format"),
            ({"regex": DATE_REGEX}, "regex"),
            ({"choice": CHOICES}, "choice"),
        ],
    )
    def test_structured_output_is_refused_where_not_declared(
        self, engine: Engine, fields: dict[str, Any], param: str
    ) -> None:
        if engine.capabilities.structured_output:
            pytest.skip("backend declares structured_output")
        with pytest.raises(InvalidRequestError) as refused:
            engine.infer(QUESTION, self._structured(**fields))
        assert refused.value.param == param

    def test_json_schema_answers_validate_greedy_and_sampled(self, engine: Engine) -> None:
        self._needs_structured(engine)
        configs = [self._structured(json_schema=CITY_SCHEMA)]
        if {"temperature", "seed"} <= engine.capabilities.sampling:
            configs.append(self._structured(json_schema=CITY_SCHEMA, temperature=1.0, seed=11, n=2))
        for config in configs:
            response = engine.infer(QUESTION, config)[0]
            for index, choice in enumerate(response.choices):
                jsonschema.validate(json.loads(_content(response, index)), CITY_SCHEMA)
                assert choice.finish_reason == "stop"

    def test_response_format_json_object_is_an_object(self, engine: Engine) -> None:
        self._needs_structured(engine)
        config = self._structured(response_format={"type": "json_object"})
        response = engine.infer(QUESTION, config)[0]
        if response.choices[0].finish_reason == "stop":
            assert isinstance(json.loads(_content(response)), dict)
        else:  # an object the model kept writing: still the start of one
            assert _content(response).startswith("{")

    def test_regex_and_choice_answers_match(self, engine: Engine) -> None:
        self._needs_structured(engine)
        dated = engine.infer(QUESTION, self._structured(regex=DATE_REGEX))[0]
        assert re.fullmatch(DATE_REGEX, _content(dated))
        chosen = engine.infer(QUESTION, self._structured(choice=CHOICES))[0]
        assert _content(chosen) in CHOICES
        assert chosen.choices[0].finish_reason == "stop"

    def test_constrained_rows_leave_unconstrained_ones_as_they_were(self, engine: Engine) -> None:
        self._needs_structured(engine)
        plain = self._greedy()
        alone = answers(engine.infer(OTHER_QUESTIONS, plain))

        async def together() -> list[ChatCompletionResponse]:
            # Submitted at once, so that a batching backend runs them in one batch.
            return await asyncio.gather(
                engine.infer_async(QUESTION[0], self._structured(json_schema=CITY_SCHEMA)),
                *(engine.infer_async(request, plain) for request in OTHER_QUESTIONS),
            )

        mixed = asyncio.run(together())
        jsonschema.validate(json.loads(_content(mixed[0])), CITY_SCHEMA)
        assert answers(mixed[1:]) == alone

    def test_a_structured_stream_equals_the_whole_answer(self, engine: Engine) -> None:
        self._needs_structured(engine)
        config = self._structured(json_schema=CITY_SCHEMA)
        whole = _content(engine.infer(QUESTION, config)[0])
        (stream,) = engine.stream(QUESTION, config)
        assert streamed_text(stream) == whole

    def test_a_pattern_that_cannot_compile_is_refused_naming_it(self, engine: Engine) -> None:
        self._needs_structured(engine)
        with pytest.raises(InvalidRequestError) as refused:
            engine.infer(QUESTION, self._structured(regex="(unclosed"))
        assert refused.value.param == "regex"
        with pytest.raises(InvalidRequestError) as invalid:
            engine.infer(QUESTION, self._structured(json_schema={"type": "objekt"}))
        assert invalid.value.param == "json_schema"

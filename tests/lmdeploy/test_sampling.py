"""infercore's sampling settings on LMDeploy's real GenerationConfig, and structured output
through LMDeploy's own check of response formats."""

from __future__ import annotations

import json

import pytest
from lmdeploy.messages import GenerationConfig

import infercore
from infercore import SamplingParams, StructuredOutput
from infercore._structured import ReasoningTags
from infercore_lmdeploy._guided import check_response_format
from infercore_lmdeploy._plugin import CAPABILITIES
from infercore_lmdeploy._sampling import generation_config, response_format

EOS = (2,)

#: Each declared setting, a value that is not LMDeploy's default, and the
#: GenerationConfig field it must land in.
DECLARED = {
    "temperature": (0.7, "temperature"),
    "top_p": (0.9, "top_p"),
    "top_k": (40, "top_k"),
    "min_p": (0.05, "min_p"),
    "repetition_penalty": (1.2, "repetition_penalty"),
    "seed": (1234, "random_seed"),
    "ignore_eos": (True, "ignore_eos"),
}


def test_every_declared_setting_is_in_the_table() -> None:
    assert set(DECLARED) == CAPABILITIES.sampling


@pytest.mark.parametrize("name", sorted(DECLARED))
def test_each_declared_setting_lands_in_its_field(name: str) -> None:
    value, field = DECLARED[name]
    config = generation_config(SamplingParams(max_tokens=16, **{name: value}), EOS)
    assert isinstance(config, GenerationConfig)
    assert getattr(config, field) == value
    assert getattr(GenerationConfig(), field) != value, "the value must not be the default"


def test_sampling_sets_do_sample_whatever_the_temperature() -> None:
    # LMDeploy decodes greedily without do_sample, whatever the temperature.
    for params in (SamplingParams(max_tokens=8), SamplingParams(max_tokens=8, temperature=1.3)):
        config = generation_config(params, EOS)
        assert config.do_sample is True
        assert config.top_k == GenerationConfig().top_k


def test_the_length_the_stop_tokens_and_the_stop_token_id_in_the_output() -> None:
    config = generation_config(SamplingParams(max_tokens=7), EOS)
    assert config.max_new_tokens == 7
    assert config.stop_token_ids == [2]
    assert config.include_stop_str_in_output is True
    assert config.ignore_eos is False
    assert generation_config(SamplingParams(max_tokens=7), ()).stop_token_ids is None


@pytest.mark.parametrize(
    "params",
    [
        SamplingParams(max_tokens=8, temperature=0.0),
        SamplingParams(max_tokens=8, top_k=1, temperature=0.9),
    ],
)
def test_greedy_is_top_k_one_and_keeps_the_repetition_penalty(params: SamplingParams) -> None:
    penalised = SamplingParams(**{**params.__dict__, "repetition_penalty": 1.3})
    config = generation_config(penalised, EOS)
    # Without do_sample LMDeploy would drop the penalty; top-k of one is greedy with it.
    assert (config.do_sample, config.top_k, config.temperature) == (True, 1, 1.0)
    assert config.repetition_penalty == 1.3


def test_top_k_below_one_disables_it() -> None:
    assert generation_config(SamplingParams(max_tokens=8, top_k=-1), EOS).top_k == 0


@pytest.mark.parametrize(("asked", "sent"), [(None, None), (0, 1), (1, 1), (5, 5)])
def test_logprobs_ask_for_at_least_one_alternative(asked: int | None, sent: int | None) -> None:
    # LMDeploy reports the chosen token's logprob only beside alternatives.
    assert generation_config(SamplingParams(max_tokens=8, logprobs=asked), EOS).logprobs == sent


def test_a_value_out_of_lmdeploys_range_is_refused_with_its_words() -> None:
    with pytest.raises(infercore.InvalidRequestError, match="min_p should be in range"):
        generation_config(SamplingParams(max_tokens=8, min_p=1.5), EOS)


SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
CONSTRAINTS = [
    StructuredOutput("json_schema", json.dumps(SCHEMA)),
    StructuredOutput("regex", "[0-9]{3}-[a-z]+", "regex"),
    StructuredOutput("choice", json.dumps(["yes", "no way"]), "choice"),
    StructuredOutput(
        "json_schema", json.dumps(SCHEMA), reasoning=ReasoningTags("<think>", "</think>", True)
    ),
]


@pytest.mark.parametrize("structured", CONSTRAINTS, ids=lambda s: s.kind)
def test_each_constraint_is_a_format_lmdeploy_compiles(structured: StructuredOutput) -> None:
    check_response_format(response_format(structured), structured.param)
    config = generation_config(SamplingParams(max_tokens=8, structured=structured), EOS)
    assert config.response_format == response_format(structured)


def test_json_allows_one_blank_in_a_row_and_a_choice_is_exact() -> None:
    json_format = response_format(CONSTRAINTS[0])["format"]
    assert json_format == {"type": "json_schema", "json_schema": SCHEMA, "max_whitespace_cnt": 1}
    choice = response_format(CONSTRAINTS[2])["format"]
    assert [element["value"] for element in choice["elements"]] == ["yes", "no way"]


def test_reasoning_keeps_the_cores_structural_tag() -> None:
    assert response_format(CONSTRAINTS[3]) == CONSTRAINTS[3].structural_tag()


def test_a_pattern_lmdeploy_cannot_compile_is_refused_naming_the_field() -> None:
    bad = StructuredOutput("regex", "[unclosed", "regex")
    with pytest.raises(infercore.InvalidRequestError, match="LMDeploy refuses regex") as refused:
        check_response_format(response_format(bad), bad.param)
    assert refused.value.param == "regex"

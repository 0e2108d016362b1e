"""infercore's sampling settings as LMDeploy's GenerationConfig."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lmdeploy.messages import GenerationConfig

from infercore import InvalidRequestError, SamplingParams, StructuredOutput

__all__ = ["generation_config", "response_format"]

#: The most blank characters in a row that constrained JSON may hold, as the core
#: bounds JSON after reasoning: a model may otherwise sample blank space without end.
#: (xgrammar's structural tags take no fewer than one.)
_JSON_BLANKS = 1


def response_format(structured: StructuredOutput) -> dict[str, Any]:
    """The constraint as LMDeploy's ``response_format``: an xgrammar structural tag,
    the one form that bounds JSON's blank space and takes a choice as it is."""
    if structured.reasoning is not None:
        return structured.structural_tag()
    answer: dict[str, Any]
    if structured.kind == "json_schema":
        answer = {
            "type": "json_schema",
            "json_schema": structured.schema,
            "max_whitespace_cnt": _JSON_BLANKS,
        }
    elif structured.kind == "regex":
        answer = {"type": "regex", "pattern": structured.spec}
    else:
        answer = {
            "type": "or",
            "elements": [{"type": "const_string", "value": c} for c in structured.choices],
        }
    return {"type": "structural_tag", "format": answer}


def generation_config(params: SamplingParams, stop_token_ids: Sequence[int]) -> GenerationConfig:
    """LMDeploy's settings for one sequence; unset fields keep LMDeploy's defaults.

    ``stop_token_ids`` are the model's end-of-sequence ids: LMDeploy adds those of
    the model's generation config, and without any given it would stop at its own
    chat template's stop words instead.
    """
    settings: dict[str, Any] = {
        field: value
        for field, value in (
            ("temperature", params.temperature),
            ("top_p", params.top_p),
            ("min_p", params.min_p),
            ("repetition_penalty", params.repetition_penalty),
            ("random_seed", params.seed),
        )
        if value is not None
    }
    if params.top_k is not None:
        settings["top_k"] = max(params.top_k, 0)  # LMDeploy: 0 disables top-k
    if params.greedy:
        # LMDeploy decodes greedily only without do_sample, and then also drops the
        # repetition penalty; top-k of one is the same choice with the penalty kept.
        settings.update(top_k=1, temperature=1.0)
    if params.logprobs is not None:
        # LMDeploy reports the chosen token's logprob only beside at least one
        # alternative; the extra one is dropped again.
        settings["logprobs"] = max(params.logprobs, 1)
    if params.structured is not None:
        settings["response_format"] = response_format(params.structured)
    try:
        return GenerationConfig(
            max_new_tokens=params.max_tokens,
            # Without it LMDeploy decodes greedily whatever the temperature.
            do_sample=True,
            ignore_eos=params.ignore_eos,
            stop_token_ids=list(stop_token_ids) or None,
            # The stop token comes back with its id (and logprob), as the contract
            # counts it; its text is never shown (see `DeltaMaker`).
            include_stop_str_in_output=True,
            **settings,
        )
    except AssertionError as exc:
        raise InvalidRequestError(
            f"LMDeploy's GenerationConfig refuses {settings}: {exc or 'a value out of range'}"
        ) from None

"""LMDeploy's streamed outputs as infercore deltas."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from infercore import Delta, EngineError, IncrementalDetokenizer, Tokenizer, TokenLogprobs
from infercore.types import FinishReason

__all__ = ["DeltaMaker"]

_FINISH: dict[str, FinishReason] = {"stop": "stop", "length": "length"}


class DeltaMaker:
    """Turns one sequence's outputs (LMDeploy's ``GenOut``: ``token_ids``,
    ``finish_reason``, ``logprobs``) into deltas.

    The text is decoded here, from the token ids, rather than taken from LMDeploy:
    the same text as the other backends', never half a character, and nothing of
    the stop token that the last output carries.
    """

    def __init__(self, tokenizer: Tokenizer, top_logprobs: int | None) -> None:
        self._detokenizer = IncrementalDetokenizer(tokenizer)
        self._top = top_logprobs

    def delta(self, output: Any) -> Delta:
        token_ids = tuple(output.token_ids or ())
        finish = None
        if output.finish_reason is not None:
            finish = _FINISH.get(output.finish_reason)
            if finish is None:
                raise EngineError(f"LMDeploy ended the request: {output.finish_reason}")
        text = self._detokenizer.push(token_ids)
        if finish is not None:
            text += self._detokenizer.flush()
        return Delta(token_ids, text, self._logprobs(token_ids, output.logprobs), finish)

    def _logprobs(
        self, token_ids: Sequence[int], logprobs: Sequence[Mapping[int, float]] | None
    ) -> tuple[TokenLogprobs, ...] | None:
        if self._top is None:
            return None
        logprobs = logprobs or ()
        if len(logprobs) != len(token_ids):
            raise EngineError(
                f"LMDeploy returned logprobs for {len(logprobs)} of {len(token_ids)} tokens"
            )
        return tuple(
            _token_logprobs(token_id, candidates, self._top)
            for token_id, candidates in zip(token_ids, logprobs, strict=True)
        )


def _token_logprobs(token_id: int, candidates: Mapping[int, float], top: int) -> TokenLogprobs:
    """One token's entry from LMDeploy's ``{token id: logprob}`` of the best alternatives
    and the chosen token."""
    if token_id not in candidates:
        raise EngineError(f"LMDeploy returned no logprob for the chosen token {token_id}")
    ranked = sorted(candidates.items(), key=lambda item: item[1], reverse=True)
    best = tuple((tid, float(lp)) for tid, lp in ranked if math.isfinite(lp))
    return TokenLogprobs(token_id, float(candidates[token_id]), best[:top])

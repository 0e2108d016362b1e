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

    ``whole``: the sequence is wanted whole (``SamplingParams.final_only``). Its
    outputs are then gathered into the last one's delta, decoded once: LMDeploy's
    PyTorch engine sends an output per token even when not asked to stream.
    """

    def __init__(self, tokenizer: Tokenizer, top_logprobs: int | None, *, whole: bool) -> None:
        self._detokenizer = IncrementalDetokenizer(tokenizer)
        self._top = top_logprobs
        self.whole = whole
        self._held_ids: list[int] = []
        self._held_logprobs: list[TokenLogprobs] = []

    def delta(self, output: Any) -> Delta | None:
        """The delta of ``output``; ``None`` while a whole sequence is being gathered."""
        token_ids = tuple(output.token_ids or ())
        finish = None
        if output.finish_reason is not None:
            finish = _FINISH.get(output.finish_reason)
            if finish is None:
                raise EngineError(f"LMDeploy ended the request: {output.finish_reason}")
        logprobs = self._logprobs(token_ids, output.logprobs)
        if self.whole:
            self._held_ids.extend(token_ids)
            self._held_logprobs.extend(logprobs or ())
            if finish is None:
                return None
            token_ids = tuple(self._held_ids)
            logprobs = None if logprobs is None else tuple(self._held_logprobs)
        text = self._detokenizer.push(token_ids)
        if finish is not None:
            text += self._detokenizer.flush()
        return Delta(token_ids, text, logprobs, finish)

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

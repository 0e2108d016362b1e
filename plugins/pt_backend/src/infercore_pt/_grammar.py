"""Structured output on the pt batch, through xgrammar.

xgrammar compiles a constraint once per (constraint, tokenizer) into a grammar
whose token masks it precomputes; each constrained row of a batch then holds
its own matcher, which fills that row's token bitmask before sampling and
accepts the sampled token after. Rows without a constraint take no part.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Collection, Sequence
from typing import Any

import torch
import xgrammar as xgr

from infercore import InvalidRequestError, StructuredOutput

__all__ = ["Grammars", "RowGrammar", "mask_logits"]

#: Compiled grammars kept per backend; a compiled grammar holds its token masks.
_CACHED = 256


class Grammars:
    """Compiles constraints for one tokenizer, each once (the most recent ones kept)."""

    def __init__(self, tokenizer: Any, vocab_size: int, stop_ids: Collection[int]) -> None:
        info = xgr.TokenizerInfo.from_huggingface(
            tokenizer, vocab_size=vocab_size, stop_token_ids=sorted(stop_ids)
        )
        self._compiler = xgr.GrammarCompiler(info, cache_enabled=False)
        self.compile = functools.lru_cache(maxsize=_CACHED)(self._compile)

    def _compile(self, structured: StructuredOutput) -> xgr.CompiledGrammar:
        """``structured`` compiled; what xgrammar cannot compile is the caller's 400.

        JSON comes without optional whitespace (``any_whitespace=False``): a model
        may otherwise sample blank space without end, and vLLM compiles it the
        same way (``disable_any_whitespace``), so both backends allow one text.
        After a reasoning model's thinking the constraint is one part of the
        answer's structural tag, which bounds blank space instead.
        """
        try:
            if structured.reasoning is not None:
                return self._compiler.compile_structural_tag(
                    json.dumps(structured.structural_tag())
                )
            if structured.kind == "json_schema":
                return self._compiler.compile_json_schema(structured.spec, any_whitespace=False)
            if structured.kind == "regex":
                return self._compiler.compile_regex(structured.spec)
            # A JSON string literal is an EBNF string literal, escapes and all.
            alternatives = " | ".join(json.dumps(choice) for choice in structured.choices)
            return self._compiler.compile_grammar(f"root ::= {alternatives}")
        except (RuntimeError, ValueError) as exc:
            raise InvalidRequestError(
                f"{structured.param} cannot be compiled into a grammar: {exc}",
                param=structured.param,
            ) from None

    def row(self, structured: StructuredOutput) -> RowGrammar:
        """A matcher for one sequence, at the start of ``structured``."""
        return RowGrammar(xgr.GrammarMatcher(self.compile(structured)))


class RowGrammar:
    """One sequence's place in its grammar."""

    def __init__(self, matcher: xgr.GrammarMatcher) -> None:
        self.matcher = matcher

    def accept(self, token: int) -> bool:
        """Advance past ``token``; False if the grammar does not allow it."""
        return bool(self.matcher.accept_token(token))

    @property
    def done(self) -> bool:
        """The text is complete: the grammar took its end (a stop token)."""
        return bool(self.matcher.is_terminated())


#: One batched filler per process: it fills the rows' bitmasks on xgrammar's threads.
_FILLER = functools.cache(xgr.BatchGrammarMatcher)


def mask_logits(logits: torch.Tensor, grammars: Sequence[RowGrammar | None]) -> None:
    """Set to -inf, in place, each constrained row's logits of tokens its grammar forbids."""
    rows = [index for index, grammar in enumerate(grammars) if grammar is not None]
    if not rows:
        return
    bitmask = xgr.allocate_token_bitmask(len(grammars), logits.shape[-1])
    matchers = [grammar.matcher for grammar in grammars if grammar is not None]
    _FILLER().batch_fill_next_token_bitmask(matchers, bitmask, indices=rows)
    xgr.apply_token_bitmask_inplace(logits, bitmask.to(logits.device), indices=rows)

"""Choosing the next token for every row of a batch, each row with its own settings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from infercore import SamplingParams, TokenLogprobs
from infercore_pt._grammar import RowGrammar, mask_logits

__all__ = ["RowState", "sample"]


@dataclass
class RowState:
    """What sampling needs to know of one sequence; ``grammar`` for structured output."""

    params: SamplingParams
    prompt_ids: Sequence[int]
    output_ids: list[int]
    generator: torch.Generator | None
    grammar: RowGrammar | None = None

    @classmethod
    def create(
        cls,
        params: SamplingParams,
        prompt_ids: Sequence[int],
        device: torch.device,
        grammar: RowGrammar | None = None,
    ) -> RowState:
        generator = None
        if params.seed is not None:
            generator = torch.Generator(device=device)
            generator.manual_seed(params.seed)
        return cls(params, prompt_ids, [], generator, grammar)

    @property
    def penalised(self) -> bool:
        p = self.params
        return bool(
            (p.repetition_penalty not in (None, 1.0)) or p.presence_penalty or p.frequency_penalty
        )


def _apply_penalties(logits: torch.Tensor, row: RowState) -> None:
    """vLLM's semantics: repetition over prompt and output, presence and frequency over output."""
    p = row.params
    if p.repetition_penalty not in (None, 1.0):
        seen = torch.tensor(sorted({*row.prompt_ids, *row.output_ids}), device=logits.device)
        values = logits[seen]
        penalty = float(p.repetition_penalty or 1.0)
        logits[seen] = torch.where(values > 0, values / penalty, values * penalty)
    if (p.presence_penalty or p.frequency_penalty) and row.output_ids:
        ids, counts = torch.tensor(row.output_ids, device=logits.device).unique(return_counts=True)
        logits[ids] -= float(p.presence_penalty or 0.0) + float(p.frequency_penalty or 0.0) * counts


def _filter(logits: torch.Tensor, rows: Sequence[RowState]) -> torch.Tensor:
    """Temperature, then top-k, top-p and min-p, on the rows that sample."""
    device = logits.device
    temperature = torch.tensor(
        [1.0 if r.params.temperature is None else r.params.temperature for r in rows], device=device
    )
    logits = logits / temperature.unsqueeze(1)
    top_k = [r.params.top_k for r in rows]
    top_p = [r.params.top_p for r in rows]
    min_p = [r.params.min_p for r in rows]
    if (
        not any(k is not None and k > 0 for k in top_k)
        and not any(v is not None and v < 1.0 for v in top_p)
        and not any(min_p)
    ):
        return logits
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    vocab = logits.shape[-1]
    remove = torch.zeros_like(sorted_logits, dtype=torch.bool)
    ks = torch.tensor([k if k is not None and k > 0 else vocab for k in top_k], device=device)
    remove |= torch.arange(vocab, device=device).unsqueeze(0) >= ks.unsqueeze(1)
    probs = sorted_logits.softmax(dim=-1)
    ps = torch.tensor([1.0 if v is None else v for v in top_p], device=device)
    # Drop a token once the mass before it already reaches top_p; the first always stays.
    remove |= (probs.cumsum(dim=-1) - probs) >= ps.unsqueeze(1)
    mins = torch.tensor([v or 0.0 for v in min_p], device=device)
    remove |= probs < (mins * probs[:, :1])
    remove[:, 0] = False
    sorted_logits = sorted_logits.masked_fill(remove, float("-inf"))
    return torch.empty_like(logits).scatter_(1, order, sorted_logits)


def sample(
    logits: torch.Tensor, rows: Sequence[RowState]
) -> tuple[list[int], list[tuple[TokenLogprobs, ...] | None]]:
    """The next token of each row, and its logprobs where the row asked for them.

    Logprobs are those of the model's distribution before any sampling
    setting or grammar, as vLLM reports them by default. A row with a grammar
    picks only among the tokens it allows.
    """
    logits = logits.float()
    want_logprobs = [r.params.logprobs for r in rows]
    raw = logits.log_softmax(dim=-1) if any(k is not None for k in want_logprobs) else None
    if any(r.penalised for r in rows):
        logits = logits.clone()
        for index, row in enumerate(rows):
            if row.penalised:
                _apply_penalties(logits[index], row)
    mask_logits(logits, [r.grammar for r in rows])
    tokens = logits.argmax(dim=-1)
    sampling = [i for i, r in enumerate(rows) if not r.params.greedy]
    if sampling:
        picked = [rows[i] for i in sampling]
        probs = _filter(logits[sampling], picked).softmax(dim=-1)
        drawn = torch.empty(len(sampling), dtype=tokens.dtype, device=tokens.device)
        unseeded = [j for j, r in enumerate(picked) if r.generator is None]
        if unseeded:
            drawn[unseeded] = torch.multinomial(probs[unseeded], 1).squeeze(1)
        for j, row in enumerate(picked):
            if row.generator is not None:
                drawn[j] = torch.multinomial(probs[j], 1, generator=row.generator)[0]
        tokens[sampling] = drawn
    chosen = tokens.tolist()
    logprobs: list[tuple[TokenLogprobs, ...] | None] = [None] * len(rows)
    if raw is not None:
        for index, k in enumerate(want_logprobs):
            if k is None:
                continue
            token = chosen[index]
            top: tuple[tuple[int, float], ...] = ()
            if k:
                values, ids = raw[index].topk(k)
                top = tuple(zip(ids.tolist(), values.tolist(), strict=True))
            logprobs[index] = (TokenLogprobs(token, float(raw[index, token]), top),)
    return chosen, logprobs

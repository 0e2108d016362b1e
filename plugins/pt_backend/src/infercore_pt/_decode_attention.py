"""Attention for a decode step: one new token per row of a left-padded batch.

transformers' sdpa path attends every row over the batch's whole padded width, so
one long prompt among short streams makes every stream pay for its length on
every step. Here each run of neighbouring rows attends only from the first
column any of them uses: its keys and values are a slice of the cache (a view,
no copy), and the sum of those runs' widths, not rows times the widest row,
sets the cost. Neighbouring rows, because a batch's rows join in groups that
entered together (one prefill) and so start at about one column; rows picked
from across the batch would need their keys copied out first.

The query's heads are grouped under the key/value head they share, as
(rows, kv heads, groups, head dim), so the keys and values are read once per
kv head and never repeated: transformers' sdpa function repeats them
(``repeat_kv``) under a mask unless its version groups a single query itself, as
5.23 does. ``enable_gqa`` would do the same but only exists from torch 2.5, and
on CPU with a mask it measured no faster (17 rows over 1,800 columns, one
thread: 7.1 ms against 6.2 grouped, 103 repeated).

Prefill (more than one query token) and anything this does not know to be the
same as the stock function (dropout, softcapping, sliding windows, attention
sinks, position biases, paged caches, compiling, a mask other than the
(rows, 1, 1, width) boolean one that transformers' ``sdpa_mask`` makes) go to
the stock sdpa function, so results are the same within float rounding.
"""

from __future__ import annotations

import threading
from typing import Any

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import AttentionMaskInterface, sdpa_mask
from transformers.utils.import_utils import is_torchdynamo_compiling

__all__ = ["NAME", "decode_attention", "plan_runs", "register"]

#: The attention implementation name the backend selects in place of "sdpa".
NAME = "infercore_decode"

#: What one more attention call costs, in (row, column) pairs attended: measured
#: on CPU, a call costs about as much as 40 such pairs, plus the slicing around it.
CALL_COST = 128

#: The most rows one run takes: it bounds the search for runs at rows x this per
#: step, and a longer run of rows with one start only splits into a few calls.
LONGEST_RUN = 64

# Keyword arguments under which this function is not the stock one; any of them
# set (not None) sends the call to the stock function.
_UNSUPPORTED = ("softcap", "sliding_window", "s_aux", "position_bias", "cache")

# The runs of the last mask seen, per thread: every layer of a step gets the same
# mask object, so the runs are worked out once per step. The mask itself is kept
# so that its id cannot be reused by another tensor while it is cached.
_last = threading.local()

#: A run of neighbouring rows: (first row, end row, first column, whether it needs its mask).
Run = tuple[int, int, int, bool]


def register() -> str:
    """Make ``NAME`` an attention implementation (with sdpa's masks); return it."""
    AttentionInterface.register(NAME, decode_attention)
    # Masks are made per implementation name; a name without a mask function
    # would get no mask at all.
    AttentionMaskInterface.register(NAME, sdpa_mask)
    return NAME


def plan_runs(starts: list[int], solid: list[bool], width: int) -> list[Run]:
    """Split rows into runs of neighbours, each attending from one column on.

    ``starts[r]`` is row r's first real column, ``solid[r]`` whether every column
    after it is real. Returns ``(first row, end row, first column, masked)`` runs
    covering every row in order, of at most ``LONGEST_RUN`` rows, chosen (dynamic
    programming over the cut points) to minimise the columns attended plus
    ``CALL_COST`` per run; ``masked`` is False where every row of the run is real
    from the run's first column on, so the run needs no mask.
    """
    rows = len(starts)
    best = [0] * (rows + 1)  # best[j]: the cheapest cost of rows [0, j)
    cut = [0] * (rows + 1)
    for end in range(1, rows + 1):
        first = width
        best[end] = -1
        for begin in range(end - 1, max(end - LONGEST_RUN, 0) - 1, -1):
            first = min(first, starts[begin])
            cost = best[begin] + CALL_COST + (end - begin) * (width - first)
            if best[end] < 0 or cost < best[end]:
                best[end], cut[end] = cost, begin
    runs: list[Run] = []
    end = rows
    while end > 0:
        begin = cut[end]
        first = min(starts[begin:end])
        masked = not all(solid[r] and starts[r] == first for r in range(begin, end))
        runs.append((begin, end, first, masked))
        end = begin
    runs.reverse()
    return runs


def _runs(mask: torch.Tensor | None, rows: int, width: int) -> list[Run] | None:
    """The runs for ``mask``, or None where a row has no real column (left to the
    stock function, whatever it makes of that)."""
    if mask is None:
        return [(0, rows, 0, False)]
    if getattr(_last, "mask", None) is mask:
        cached: list[Run] | None = _last.runs
        return cached
    real = mask[:, 0, 0, :]
    # argmax returns the first of equal maxima: the first real column.
    starts = real.to(torch.uint8).argmax(dim=-1)
    counts = real.sum(dim=-1)
    runs = None
    if bool((counts > 0).all()):
        runs = plan_runs(starts.tolist(), (counts == width - starts).tolist(), width)
    _last.mask, _last.runs = mask, runs
    return runs


def _applies(
    query: torch.Tensor,
    key: torch.Tensor,
    mask: torch.Tensor | None,
    dropout: float,
    kwargs: dict[str, Any],
) -> bool:
    rows, heads, q_length, _ = query.shape
    if q_length != 1 or dropout or is_torchdynamo_compiling():
        return False
    if any(kwargs.get(name) is not None for name in _UNSUPPORTED):
        return False
    if key.shape[0] != rows or heads % key.shape[1]:
        return False
    return mask is None or (
        mask.dtype == torch.bool and tuple(mask.shape) == (rows, 1, 1, key.shape[2])
    )


def decode_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    is_causal: bool | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """transformers' attention signature: query (rows, heads, q, dim), key and
    value (rows, kv heads, width, dim); returns (rows, q, heads, dim)."""
    rows, heads, _, dim = query.shape
    kv_heads, width = key.shape[1], key.shape[2]
    runs = None
    if _applies(query, key, attention_mask, dropout, kwargs):
        runs = _runs(attention_mask, rows, width)
    if runs is None:
        result: tuple[torch.Tensor, None] = sdpa_attention_forward(
            module,
            query,
            key,
            value,
            attention_mask,
            dropout=dropout,
            scaling=scaling,
            is_causal=is_causal,
            **kwargs,
        )
        return result
    grouped = query.reshape(rows, kv_heads, heads // kv_heads, dim)
    outputs = []
    for begin, end, first, masked in runs:
        # Only a mask's runs can be masked.
        mask = None
        if masked and attention_mask is not None:
            mask = attention_mask[begin:end, :, :, first:]
        outputs.append(
            torch.nn.functional.scaled_dot_product_attention(
                grouped[begin:end],
                key[begin:end, :, first:],
                value[begin:end, :, first:],
                attn_mask=mask,
                scale=scaling,
            )
        )
    output = outputs[0] if len(outputs) == 1 else torch.cat(outputs)
    # (rows, kv heads, groups, dim) -> (rows, 1, heads, dim), as the stock function returns.
    return output.reshape(rows, 1, heads, value.shape[-1]).contiguous(), None

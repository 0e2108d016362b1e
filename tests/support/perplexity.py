"""Perplexity of a causal language model on a fixed text: how close a quantized model stays
to the one it was made from (the export tests and benchmarks/bench_export.py)."""

from __future__ import annotations

import math
from typing import Any

#: Plain English prose, long enough (about 200 tokens) for a stable figure.
TEXT = (
    "The river starts high in the mountains, where snow melts each spring and runs down "
    "through narrow valleys. By the time it reaches the plain, it is wide and slow, and "
    "farmers along its banks use its water for their fields. Towns grew up where the river "
    "could be crossed, and bridges of stone replaced the old wooden ones over the centuries. "
    "Today boats still carry goods between the towns, although trains and lorries now move "
    "most of the freight. In summer, families swim in the shallow bends and fishermen sit "
    "patiently on the banks from early morning until the light begins to fade. The river "
    "reaches the sea through a broad delta, where birds gather in their thousands each "
    "autumn before flying south for the winter."
)


def perplexity(model: Any, tokenizer: Any, text: str = TEXT) -> float:
    """exp of the mean negative log-likelihood of each token of ``text`` given those before."""
    import torch

    ids = tokenizer(text, return_tensors="pt").input_ids.to(model.device)
    with torch.inference_mode():
        loss = model(input_ids=ids, labels=ids).loss
    return math.exp(float(loss))

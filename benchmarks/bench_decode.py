"""One decode step of the pt backend's running batch: transformers' sdpa against the
backend's decode attention, on the built-in SmolLM2 model in float32.

Each case is a batch of rows left-padded to its longest, its cache filled with
random keys and values (attention costs the same whatever they hold), stepped
as the scheduler steps it (``Batch.step``); prints the median ms per step:

* 32 rows of 450 tokens (no padding);
* 32 rows of 300 to 450 tokens;
* 16 rows of 300 tokens and one of 1,800, as when a long prompt joins streams.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from transformers import AutoModelForCausalLM

from infercore_pt import _decode_attention, _smollm2
from infercore_pt._batch import Batch
from infercore_pt._cache import new_cache

CASES = {
    "32 x 450": [450] * 32,
    "32 x 300..450": [300 + (150 * i) // 31 for i in range(32)],
    "16 x 300 + 1 x 1800": [300] * 16 + [1800],
}


def ms_per_step(model: torch.nn.Module, lengths: list[int], steps: int) -> float:
    config = model.config
    rows, width = len(lengths), max(lengths)
    mask = torch.zeros(rows, width, dtype=torch.long)
    for row, length in enumerate(lengths):
        mask[row, width - length :] = 1
    cache = new_cache()
    shape = (rows, config.num_key_value_heads, width, config.head_dim)
    for layer in range(config.num_hidden_layers):
        cache.update(torch.randn(shape), torch.randn(shape), layer)
    pending = torch.randint(0, config.vocab_size, (rows,))
    batch = Batch(list(range(rows)), cache, mask, torch.tensor(lengths), pending)
    times = []
    with torch.inference_mode():
        for _ in range(steps + 2):  # the first two warm up
            start = time.perf_counter()
            batch.step(model)
            times.append(time.perf_counter() - start)
    return statistics.median(times[2:]) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=10, help="timed steps per case")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(_smollm2.resolve(), dtype=torch.float32).eval()
    print(f"SmolLM2-135M float32, {torch.get_num_threads()} torch threads; ms per decode step")
    for name, lengths in CASES.items():
        figures = []
        for attention in ("sdpa", _decode_attention.register()):
            model.set_attn_implementation(attention)
            figures.append(ms_per_step(model, lengths, args.steps))
        sdpa, ours = figures
        print(f"  {name:>20}: sdpa {sdpa:7.1f}, decode attention {ours:7.1f} ({sdpa / ours:.2f}x)")


if __name__ == "__main__":
    main()

"""Linear layers for the few rows of a decode step on the CPU.

torch computes a linear layer as ``x @ W.T``. How fast that product is for 2 to 16
rows depends on the CPU and on the kernel torch picks for it there; taken the other
way round, ``(W @ x.T).T``, it can be several times faster, or several times slower.
Microseconds per call, two threads, ``x @ W.T`` against ``(W @ x.T).T``:

- one two-core x86 machine: SmolLM2's output head (49,152 x 576), 2 rows 17,776 against
  5,443, 16 rows 23,665 against 13,430; a 1,536 x 576 projection, 2 rows 165 against
  126, but 8 rows 232 against 280. A whole two-row decode step went from 88.5 to
  51.8 ms with the weight on the left.
- another, whose CPU has AVX-512 and AMX: the same head, 2 rows 2,880 against 8,050; the
  projection, 2 rows 30 against 120.

So neither order is right everywhere: when a model loads, each weight shape is timed
both ways on the machine itself, and a layer takes the weight on the left for as many
rows as that order stays clearly faster (on the second machine, for none).

Only plain float32 ``nn.Linear`` layers on the CPU are timed: quantized layers, other
dtypes and other devices keep their own kernels.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import torch

__all__ = ["FewRowsLinear", "left_order_rows", "use_few_rows_linear"]

#: The row counts timed, in order; a count between two of them goes as the larger does.
ROW_COUNTS = (2, 3, 4, 6, 8, 12, 16)
#: The weight goes on the left only where that takes under this share of the usual
#: product's time: a near tie is noise, and the usual product is what torch chose.
CLEAR_WIN = 0.9
#: Each timing is the best of this many runs: other work on the machine only slows a
#: run down.
RUNS = 3
#: A run repeats the product until it lasts about this long, so that a small layer's
#: few microseconds are not lost in the clock's resolution.
RUN_SECONDS = 5e-4


class FewRowsLinear(torch.nn.Linear):  # type: ignore[misc]  # torch is not followed by mypy here
    """An ``nn.Linear`` that multiplies the weight by the rows' transpose for 2 to
    ``few_rows`` rows."""

    few_rows: int

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = x.shape[-1]
        rows = x.numel() // features if features else 0
        if rows < 2 or rows > self.few_rows:
            return torch.nn.functional.linear(x, self.weight, self.bias)
        out = _left_order(self.weight, x.reshape(rows, features))
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(*x.shape[:-1], self.out_features)


def use_few_rows_linear(model: torch.nn.Module) -> None:
    """Turn each plain float32 CPU ``nn.Linear`` of ``model`` into a ``FewRowsLinear``
    where its weight is faster on the left for a few rows on this machine."""
    layers = [
        module
        for module in model.modules()
        if type(module) is torch.nn.Linear and _plain_cpu_float32(getattr(module, "weight", None))
    ]
    weights = {tuple(layer.weight.shape): layer.weight for layer in layers}
    # torch's CPU kernels run on threads that belong to the thread calling them, and
    # those stay: timed on the loading thread, they slowed every later decode step on
    # the engine's own thread by about 65% (SmolLM2, two cores). A thread of its own
    # takes them with it when it ends.
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="infercore-pt-timing") as timer:
        limits = timer.submit(
            lambda: {shape: left_order_rows(weight) for shape, weight in weights.items()}
        ).result()
    for layer in layers:
        limit = limits[tuple(layer.weight.shape)]
        if limit:
            layer.__class__ = FewRowsLinear
            layer.few_rows = limit


def left_order_rows(weight: torch.Tensor) -> int:
    """The most rows for which ``(W @ x.T).T`` is clearly faster than ``x @ W.T`` here,
    at every count of ``ROW_COUNTS`` up to it; 0 where it is not for two rows."""
    limit = 0
    with torch.no_grad():
        for rows in ROW_COUNTS:
            x = torch.randn(rows, weight.shape[1], dtype=weight.dtype)
            usual = _best_time(partial(torch.nn.functional.linear, x, weight))
            if _best_time(partial(_left_order, weight, x)) >= CLEAR_WIN * usual:
                break
            limit = rows
    return limit


def _left_order(weight: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    # Contiguous as the layer's own output is: the logits are masked in place later.
    return (weight @ x.T).T.contiguous()


def _best_time(product: Callable[[], object]) -> float:
    start = time.perf_counter()
    product()  # also the warm-up
    repeats = max(1, int(RUN_SECONDS / max(time.perf_counter() - start, 1e-9)))
    best = float("inf")
    for _ in range(RUNS):
        start = time.perf_counter()
        for _ in range(repeats):
            product()
        best = min(best, (time.perf_counter() - start) / repeats)
    return best


def _plain_cpu_float32(weight: torch.Tensor | None) -> bool:
    # A quantized layer keeps its weight in a tensor subclass with kernels of its own,
    # or (compressed-tensors) packed under other names, with no weight at all.
    return (
        weight is not None
        and type(weight.detach()) is torch.Tensor
        and weight.device.type == "cpu"
        and weight.dtype == torch.float32
    )

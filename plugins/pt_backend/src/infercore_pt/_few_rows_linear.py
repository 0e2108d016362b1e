"""Linear layers for the few rows of a decode step on the CPU.

torch computes a linear layer as ``x @ W.T``. On the CPU, for 2 to 16 rows, that
product reads the weight far more slowly than the one-row product does, so a
decode step of two rows cost about 1.8 times a step of one. The same product
taken the other way round, ``(W @ x.T).T``, keeps the one-row pace. Measured with
the x86 CPU build of torch, two threads, in microseconds per call, ``x @ W.T``
against ``W @ x.T``:

- SmolLM2's output head (49,152 x 576): 2 rows 17,776 against 5,443; 8 rows
  20,479 against 10,737; 16 rows 23,665 against 13,430.
- a 1,536 x 576 projection: 2 rows 165 against 126; 4 rows 288 against 183; but
  8 rows 232 against 280.

So layers take the other way round for 2 to 4 rows, and an output head (a layer
far wider than deep) up to 16 rows. A whole SmolLM2 decode step (float32, two
threads; the median of three alternating runs of 15 steps each) went from 88.5 to
51.8 ms for two rows, 95.0 to 51.1 for four, 102.6 to 94.8 for eight and 115.3 to
102.6 for sixteen.

Only plain float32 ``nn.Linear`` layers on the CPU change: quantized layers, other
dtypes and other devices keep their own kernels.
"""

from __future__ import annotations

import torch

__all__ = ["FewRowsLinear", "use_few_rows_linear"]

#: Up to this many rows, every layer takes the weight as the left operand.
FEW_ROWS = 4
#: Up to this many rows, an output head does.
FEW_ROWS_HEAD = 16
#: A layer with this many times more outputs than inputs counts as an output head.
HEAD_RATIO = 16


class FewRowsLinear(torch.nn.Linear):  # type: ignore[misc]  # torch is not followed by mypy here
    """An ``nn.Linear`` that multiplies the weight by the rows' transpose for a few rows."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = x.shape[-1]
        rows = x.numel() // features if features else 0
        limit = FEW_ROWS_HEAD if self.out_features >= HEAD_RATIO * features else FEW_ROWS
        if rows < 2 or rows > limit:
            return torch.nn.functional.linear(x, self.weight, self.bias)
        # Contiguous as the layer's own output is: the logits are masked in place later.
        out = (self.weight @ x.reshape(rows, features).T).T.contiguous()
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(*x.shape[:-1], self.out_features)


def use_few_rows_linear(model: torch.nn.Module) -> None:
    """Turn every plain float32 CPU ``nn.Linear`` of ``model`` into a ``FewRowsLinear``."""
    for module in model.modules():
        if type(module) is torch.nn.Linear and _plain_cpu_float32(getattr(module, "weight", None)):
            module.__class__ = FewRowsLinear


def _plain_cpu_float32(weight: torch.Tensor | None) -> bool:
    # A quantized layer keeps its weight in a tensor subclass with kernels of its own,
    # or (compressed-tensors) packed under other names, with no weight at all.
    return (
        weight is not None
        and type(weight.detach()) is torch.Tensor
        and weight.device.type == "cpu"
        and weight.dtype == torch.float32
    )

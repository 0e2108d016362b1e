"""Left padding, the one layout of every batch here: prompts end where decoding starts."""

from __future__ import annotations

import torch

__all__ = ["left_pad"]


def left_pad(tensor: torch.Tensor, width: int, dim: int) -> torch.Tensor:
    """``tensor`` with zeros before it along ``dim``, up to ``width``."""
    missing = width - tensor.shape[dim]
    if missing <= 0:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = missing
    return torch.cat([tensor.new_zeros(shape), tensor], dim=dim)

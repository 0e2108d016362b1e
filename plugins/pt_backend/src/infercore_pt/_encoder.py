"""An embedding model: transformers' ``AutoModel`` and the checkpoint's own pooling."""

from __future__ import annotations

from typing import Any

import torch
from transformers import AutoModel

from infercore_pt._batched import BatchedModel
from infercore_pt._options import PtOptions
from infercore_pt._pooling import Pooling, read_pooling

__all__ = ["SentenceEncoder"]


class SentenceEncoder(BatchedModel):
    """Loads an encoder (a sentence-transformers folder, or any transformers model) and
    pools batches of token ids into vectors."""

    def __init__(self, model: str, options: PtOptions, device: torch.device, dtype: Any) -> None:
        self.pooling: Pooling = read_pooling(model)
        super().__init__(model, options, device, dtype, AutoModel, self.pooling.max_seq_length)

    def _forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        states = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
        pooled: torch.Tensor = self.pooling(states, mask)
        return pooled

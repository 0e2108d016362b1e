"""Classification models: a sequence classifier (a classifier, a reward model, a
cross-encoder), transformers' ``AutoModelForSequenceClassification``, its head's raw
logits per input; a token classifier (a process reward model),
``AutoModelForTokenClassification``, its head's raw logits at every token."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from transformers import AutoModelForSequenceClassification, AutoModelForTokenClassification

from infercore import ClassifierHead
from infercore_pt._batched import BatchedModel
from infercore_pt._options import PtOptions

__all__ = ["SequenceClassifier", "TokenClassifier"]


class SequenceClassifier(BatchedModel):
    """The head's logits for batches of token ids, as the model's own forward computes
    them (a decoder's head reads the last token, an encoder's its first)."""

    def __init__(self, model: str, options: PtOptions, device: torch.device, dtype: Any) -> None:
        super().__init__(model, options, device, dtype, AutoModelForSequenceClassification)
        self.head = ClassifierHead.from_config(self.model.config.to_dict())
        # A decoder's head finds each row's last token by the config's pad id, so rows
        # are padded with it; a model that names none reads the very last position,
        # which only a batch of one holds for every row.
        pad = self.model.config.pad_token_id
        if pad is None:
            self._batch_size = 1
        else:
            self._pad_id = int(pad)

    def _forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.model(input_ids=ids, attention_mask=mask).logits
        return logits


class TokenClassifier(BatchedModel):
    """The head's logits at every token of each input, flattened token by token; rows are
    right-padded, so each token's logits are those of the input alone."""

    def __init__(self, model: str, options: PtOptions, device: torch.device, dtype: Any) -> None:
        super().__init__(model, options, device, dtype, AutoModelForTokenClassification)
        self.head = ClassifierHead.from_config(self.model.config.to_dict())

    def _forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.model(input_ids=ids, attention_mask=mask).logits
        return logits

    def _rows(self, out: torch.Tensor, batch: list[Sequence[int]]) -> list[list[float]]:
        logits = out.float().cpu()
        return [logits[row, : len(ids)].flatten().tolist() for row, ids in enumerate(batch)]

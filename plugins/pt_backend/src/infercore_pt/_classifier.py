"""A sequence-classification model (a classifier, a reward model, a cross-encoder):
transformers' ``AutoModelForSequenceClassification``, its head's raw logits per input."""

from __future__ import annotations

from typing import Any

import torch
from transformers import AutoModelForSequenceClassification

from infercore import ClassifierHead
from infercore_pt._batched import BatchedModel
from infercore_pt._options import PtOptions

__all__ = ["SequenceClassifier"]


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

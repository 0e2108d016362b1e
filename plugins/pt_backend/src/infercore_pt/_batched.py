"""A model run over batches of token ids on a worker thread of its own: what the pooling
tasks (embeddings, classification, scores) share."""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch
from transformers import AutoTokenizer

from infercore_pt._options import PtOptions

__all__ = ["BatchedModel"]


class BatchedModel(abc.ABC):
    """Loads a tokenizer and a model with ``auto_class``, and runs batches of token ids.

    Inputs are sorted by length and run ``max_batch_size`` at a time, right-padded,
    so that a batch pads little; calls from concurrent requests run one after another.
    """

    def __init__(
        self,
        model: str,
        options: PtOptions,
        device: torch.device,
        dtype: Any,
        auto_class: Any,
        max_seq_length: int | None = None,
    ) -> None:
        self.tokenizer = AutoTokenizer.from_pretrained(
            model, trust_remote_code=options.trust_remote_code
        )
        self.model = auto_class.from_pretrained(
            model,
            dtype=dtype,
            device_map=options.device_map if options.device_map is not None else device,
            trust_remote_code=options.trust_remote_code,
            **options.model_kwargs,
        ).eval()
        positions = getattr(self.model.config, "max_position_embeddings", None)
        self.max_model_len = int(
            options.max_model_len
            or max_seq_length
            or min(positions or self.tokenizer.model_max_length, self.tokenizer.model_max_length)
        )
        pad = self.tokenizer.pad_token_id
        self._pad_id = int(pad) if pad is not None else 0
        self._batch_size = options.max_batch_size
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="infercore-pt-pooling")
        self.active = 0

    async def run(self, token_ids: Sequence[Sequence[int]]) -> list[list[float]]:
        """One output vector per token-id list, in their order."""
        self.active += len(token_ids)
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._worker, self._run_all, token_ids)
        finally:
            self.active -= len(token_ids)

    @abc.abstractmethod
    def _forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``[batch, width]`` for right-padded ``ids`` and their ``mask``, in inference mode."""

    def _rows(self, out: torch.Tensor, batch: list[Sequence[int]]) -> list[list[float]]:
        """Each row of the batch's output as one input's numbers."""
        rows: list[list[float]] = out.float().cpu().tolist()
        return rows

    def _run_all(self, token_ids: Sequence[Sequence[int]]) -> list[list[float]]:
        order = sorted(range(len(token_ids)), key=lambda i: len(token_ids[i]))
        vectors: list[list[float]] = [[] for _ in token_ids]
        for start in range(0, len(order), self._batch_size):
            chosen = order[start : start + self._batch_size]
            pooled = self._run_batch([token_ids[i] for i in chosen])
            for index, vector in zip(chosen, pooled, strict=True):
                vectors[index] = vector
        return vectors

    def _run_batch(self, batch: list[Sequence[int]]) -> list[list[float]]:
        width = max(len(ids) for ids in batch)
        ids = torch.full((len(batch), width), self._pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, tokens in enumerate(batch):
            ids[row, : len(tokens)] = torch.tensor(tokens, dtype=torch.long)
            mask[row, : len(tokens)] = 1
        device = self.model.device
        with torch.inference_mode():
            out = self._forward(ids.to(device), mask.to(device))
        return self._rows(out, batch)

    def close(self) -> None:
        self._worker.shutdown(wait=True)

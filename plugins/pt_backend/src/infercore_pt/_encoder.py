"""An embedding model: transformers' ``AutoModel`` and the checkpoint's own pooling."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import torch
from transformers import AutoModel, AutoTokenizer

from infercore_pt._options import PtOptions
from infercore_pt._pooling import Pooling, read_pooling

__all__ = ["SentenceEncoder"]


class SentenceEncoder:
    """Loads an encoder (a sentence-transformers folder, or any transformers model) and
    pools batches of token ids into vectors on a worker thread of its own.

    Inputs are sorted by length and run ``max_batch_size`` at a time, so that a
    batch pads little; calls from concurrent requests run one after another.
    """

    def __init__(self, model: str, options: PtOptions, device: torch.device, dtype: Any) -> None:
        self.tokenizer = AutoTokenizer.from_pretrained(
            model, trust_remote_code=options.trust_remote_code
        )
        self.pooling: Pooling = read_pooling(model)
        self.model = AutoModel.from_pretrained(
            model,
            dtype=dtype,
            device_map=options.device_map if options.device_map is not None else device,
            trust_remote_code=options.trust_remote_code,
            **options.model_kwargs,
        ).eval()
        positions = getattr(self.model.config, "max_position_embeddings", None)
        self.max_model_len = int(
            options.max_model_len
            or self.pooling.max_seq_length
            or min(positions or self.tokenizer.model_max_length, self.tokenizer.model_max_length)
        )
        pad = self.tokenizer.pad_token_id
        self._pad_id = int(pad) if pad is not None else 0
        self._batch_size = options.max_batch_size
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="infercore-pt-encoder")
        self.active = 0

    async def encode(self, token_ids: Sequence[Sequence[int]]) -> list[list[float]]:
        """One pooled vector per token-id list, in their order."""
        self.active += len(token_ids)
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._worker, self._encode_all, token_ids)
        finally:
            self.active -= len(token_ids)

    def _encode_all(self, token_ids: Sequence[Sequence[int]]) -> list[list[float]]:
        order = sorted(range(len(token_ids)), key=lambda i: len(token_ids[i]))
        vectors: list[list[float]] = [[] for _ in token_ids]
        for start in range(0, len(order), self._batch_size):
            chosen = order[start : start + self._batch_size]
            pooled = self._encode_batch([token_ids[i] for i in chosen])
            for index, vector in zip(chosen, pooled, strict=True):
                vectors[index] = vector
        return vectors

    def _encode_batch(self, batch: list[Sequence[int]]) -> list[list[float]]:
        width = max(len(ids) for ids in batch)
        ids = torch.full((len(batch), width), self._pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, tokens in enumerate(batch):
            ids[row, : len(tokens)] = torch.tensor(tokens, dtype=torch.long)
            mask[row, : len(tokens)] = 1
        device = self.model.device
        ids, mask = ids.to(device), mask.to(device)
        with torch.inference_mode():
            states = self.model(input_ids=ids, attention_mask=mask).last_hidden_state
            pooled: list[list[float]] = self.pooling(states, mask).cpu().tolist()
        return pooled

    def close(self) -> None:
        self._worker.shutdown(wait=True)

"""Checking that prompts with media prefill together exactly as each does alone, on pt."""

from __future__ import annotations

from typing import Any

import torch

import infercore
from infercore import PreparedRequest
from infercore_pt._backend import PtBackend
from infercore_pt._inputs import encode_media
from infercore_pt._prefill import Prefill


def prefill_together_and_alone(
    engine: infercore.Engine, prompt: str, media: list[dict[str, tuple[Any, ...]]]
) -> None:
    """Prefill ``prompt`` with each of ``media`` (keyword arguments of a
    PreparedRequest) in one batch, then each alone: the first tokens'
    logits and the rows' next positions must agree."""
    backend = engine.backend
    assert isinstance(backend, PtBackend)
    encoded = [
        encode_media(backend.processor, PreparedRequest(f"r{i}", prompt, (), **items))
        for i, items in enumerate(media)
    ]
    assert all(encoded[0].stacks_with(other) for other in encoded[1:])
    model, pad_id = backend.hf_model, backend.tokenizer.eos_token_id
    prompts = [inputs.prompt_ids for inputs in encoded]
    with torch.inference_mode():
        entered = Prefill(model, list(encoded), prompts, pad_id, encoded).feed(model, None)
        assert entered is not None
        batch, together = entered
        for row, inputs in enumerate(encoded):
            alone_entered = Prefill(model, [inputs], [prompts[row]], pad_id, [inputs]).feed(
                model, None
            )
            assert alone_entered is not None
            alone_batch, alone = alone_entered
            torch.testing.assert_close(together[row], alone[0], rtol=1e-4, atol=1e-4)
            assert int(batch.positions[row]) == int(alone_batch.positions[0])

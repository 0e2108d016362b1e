"""Embeddings on the real vLLM (its pooling runner, on the CPU): all-MiniLM-L6-v2 against
sentence-transformers' own encode, and the embedding conformance tests, on one engine."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest
from embedding_models import minilm_folder
from sentence_transformers import SentenceTransformer
from vllm_settings import VLLM_OPTIONS

from infercore import Engine
from infercore.testing import EmbeddingConformance

SENTENCES = [
    "The capital of France is Paris.",
    "A man is playing a guitar on the street.",
    "short",
    "Quantum chromodynamics describes the strong interaction between quarks and gluons.",
    "Le chat est assis sur le tapis.",
]


class TestVllmEmbeddings(EmbeddingConformance):
    backend = "vllm"
    embed_model = str(minilm_folder())
    # The model's own length (its sentence-transformers config says 256), not the
    # shared tests' longer context.
    embed_options: ClassVar[dict[str, Any]] = {
        name: value for name, value in VLLM_OPTIONS.items() if name != "max_model_len"
    }

    @pytest.mark.parametrize("batch", [1, 2, len(SENTENCES)])
    def test_vectors_equal_sentence_transformers(self, embed_engine: Engine, batch: int) -> None:
        expected = SentenceTransformer(self.embed_model, device="cpu").encode(SENTENCES)
        for start in range(0, len(SENTENCES), batch):
            response = embed_engine.embed(SENTENCES[start : start + batch])
            ours = np.array([item.embedding for item in response.data], dtype=np.float64)
            theirs = expected[start : start + batch].astype(np.float64)
            cosines = (ours * theirs).sum(1) / (
                np.linalg.norm(ours, axis=1) * np.linalg.norm(theirs, axis=1)
            )
            assert cosines.min() >= 1 - 1e-5, cosines
            # Unit length, as the model's Normalize module makes them.
            np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)

    def test_the_length_is_the_models(self, embed_engine: Engine) -> None:
        assert embed_engine.backend.max_model_len == 256

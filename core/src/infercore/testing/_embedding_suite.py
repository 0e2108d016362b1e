"""The conformance tests of a backend that declares the ``embed`` task.

They run on an engine of the backend loaded with ``task="embed"`` on
``embed_model``, one per class; a backend whose capabilities do not list the
task, or a class that names no ``embed_model``, skips them. What they check holds
for any embedding model: one vector per input, in order; a vector that does not
depend on the batch it was computed in; token ids that embed as their text;
usage; the length limit; ``dimensions`` and base64; and the model served to the
official ``openai`` client.
"""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import pytest

from infercore._embedding_types import EmbeddingResponse
from infercore._engine import Engine
from infercore._errors import InvalidRequestError
from infercore._plugins import get_plugin_manager
from infercore.testing._serving import serving_engine
from infercore.testing._suite import SuiteBase

__all__ = ["EmbeddingTests"]

TEXTS = [
    "The capital of France is Paris.",
    "A man is playing a guitar.",
    "short",
    "Embeddings map sentences to vectors, so that similar meanings lie close together.",
]


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.hypot(*a) * math.hypot(*b))


def vectors(response: EmbeddingResponse) -> list[list[float]]:
    found = []
    for item in response.data:
        assert isinstance(item.embedding, list)
        found.append(item.embedding)
    return found


class EmbeddingTests(SuiteBase):
    """Capability-gated embedding tests; set ``embed_model`` (and ``embed_options``)."""

    #: An embedding model of the backend, or None: the embedding tests skip.
    embed_model: ClassVar[str | None] = None
    embed_options: ClassVar[dict[str, Any]] = {}

    @pytest.fixture(scope="class")
    @classmethod
    def embed_engine(cls) -> Iterator[Engine]:
        spec = get_plugin_manager().registry.get(cls.backend).spec
        if "embed" not in spec.capabilities.tasks:
            pytest.skip(f"backend {cls.backend!r} does not declare the embed task")
        if cls.embed_model is None:
            pytest.skip("no embed_model named for this backend")
        with Engine(
            cls.embed_model, backend=cls.backend, task="embed", **cls.embed_options
        ) as engine:
            yield engine

    def test_each_input_gets_one_vector_in_order(self, embed_engine: Engine) -> None:
        response = embed_engine.embed(TEXTS)
        assert response.object == "list"
        assert [item.index for item in response.data] == list(range(len(TEXTS)))
        found = vectors(response)
        assert len({len(vector) for vector in found}) == 1
        assert all(math.isfinite(value) for vector in found for value in vector)
        # Different texts, different vectors.
        assert cosine(found[0], found[2]) < 0.999

    def test_a_vector_does_not_depend_on_its_batch(self, embed_engine: Engine) -> None:
        together = vectors(embed_engine.embed(TEXTS))
        for text, batched in zip(TEXTS, together, strict=True):
            (alone,) = vectors(embed_engine.embed([text]))
            assert cosine(alone, batched) >= 1 - 1e-5

    def test_token_ids_embed_as_their_text_and_count_in_usage(self, embed_engine: Engine) -> None:
        ids = list(embed_engine.backend.tokenizer.encode(TEXTS[0]))
        by_text, by_ids = embed_engine.embed([TEXTS[0]]), embed_engine.embed([ids])
        assert cosine(vectors(by_text)[0], vectors(by_ids)[0]) >= 1 - 1e-5
        assert by_text.usage.prompt_tokens == by_ids.usage.prompt_tokens == len(ids)
        assert by_ids.usage.total_tokens == len(ids)

    def test_dimensions_and_base64(self, embed_engine: Engine) -> None:
        (full,) = vectors(embed_engine.embed([TEXTS[1]]))
        (short,) = vectors(embed_engine.embed([TEXTS[1]], {"dimensions": 4}))
        scale = math.hypot(*full) / math.hypot(*full[:4])
        assert short == pytest.approx([value * scale for value in full[:4]], abs=1e-6)
        encoded = embed_engine.embed([TEXTS[1]], {"encoding_format": "base64"}).data[0]
        assert isinstance(encoded.embedding, str)
        raw = base64.b64decode(encoded.embedding)
        assert list(struct.unpack(f"<{len(full)}f", raw)) == pytest.approx(full, abs=1e-6)
        with pytest.raises(InvalidRequestError) as refused:
            embed_engine.embed([TEXTS[1]], {"dimensions": len(full) + 1})
        assert refused.value.param == "dimensions"

    def test_an_input_over_the_model_length_is_refused_unless_truncated(
        self, embed_engine: Engine
    ) -> None:
        limit = embed_engine.backend.max_model_len
        token = embed_engine.backend.tokenizer.encode("a", add_special_tokens=False)[0]
        with pytest.raises(InvalidRequestError) as refused:
            embed_engine.embed([[token] * (limit + 1)])
        assert refused.value.param == "input"
        cut = embed_engine.embed([[token] * (limit + 1)], {"truncate_prompt_tokens": -1})
        assert cut.usage.prompt_tokens == limit

    def test_an_embedding_engine_does_not_generate(self, embed_engine: Engine) -> None:
        request = {"messages": [{"role": "user", "content": "Hello"}]}
        with pytest.raises(InvalidRequestError) as refused:
            embed_engine.infer([request])
        assert refused.value.param == "model"

    def test_served_to_the_openai_client(self, embed_engine: Engine) -> None:
        """``POST /v1/embeddings`` through the real server app and the official client:
        floats, base64 (which the client asks for by default and decodes), token ids."""
        openai = pytest.importorskip("openai")
        pytest.importorskip("fastapi", reason="the server needs 'infercore[serve]'")
        expected = vectors(embed_engine.embed(TEXTS[:2]))
        ids = list(embed_engine.backend.tokenizer.encode(TEXTS[0]))
        with serving_engine(embed_engine) as url:
            client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
            model = client.models.list().data[0].id
            floats = client.embeddings.create(model=model, input=TEXTS[:2], encoding_format="float")
            decoded = client.embeddings.create(model=model, input=TEXTS[:2])
            encoded = client.embeddings.create(
                model=model, input=TEXTS[0], encoding_format="base64"
            )
            by_ids = client.embeddings.create(model=model, input=[ids], encoding_format="float")
            with pytest.raises(openai.BadRequestError) as refused:
                client.embeddings.create(model=model, input=[])
            client.close()
        for answer in (floats, decoded):
            assert [item.index for item in answer.data] == [0, 1]
            for item, vector in zip(answer.data, expected, strict=True):
                assert cosine(list(item.embedding), vector) >= 1 - 1e-6
        raw = base64.b64decode(str(encoded.data[0].embedding))
        assert list(struct.unpack(f"<{len(expected[0])}f", raw)) == pytest.approx(
            expected[0], abs=1e-6
        )
        assert cosine(list(by_ids.data[0].embedding), expected[0]) >= 1 - 1e-5
        assert floats.usage.prompt_tokens == embed_engine.embed(TEXTS[:2]).usage.prompt_tokens
        assert refused.value.param == "input"

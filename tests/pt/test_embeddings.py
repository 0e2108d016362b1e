"""Embeddings on the pt backend: all-MiniLM-L6-v2 against sentence-transformers' own encode.

One engine and one reference model for the module.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import numpy as np
import pytest
from embedding_models import minilm_folder
from sentence_transformers import SentenceTransformer

import infercore

SENTENCES = [
    "The capital of France is Paris.",
    "A man is playing a guitar on the street.",
    "Embeddings turn text into vectors.",
    "short",
    "Quantum chromodynamics describes the strong interaction between quarks and gluons, "
    "mediated by gluons that themselves carry colour charge.",
    "Le chat est assis sur le tapis.",
    "12345 67890",
]


@pytest.fixture(scope="module")
def folder() -> str:
    return str(minilm_folder())


@pytest.fixture(scope="module")
def engine(folder: str) -> Iterator[infercore.Engine]:
    with infercore.Engine(folder, backend="pt", task="embed", max_batch_size=3) as engine:
        yield engine


@pytest.fixture(scope="module")
def reference(folder: str) -> SentenceTransformer:
    return SentenceTransformer(folder, device="cpu")


def _cosines(ours: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    dot = (ours * theirs).sum(1)
    return np.asarray(dot / (np.linalg.norm(ours, axis=1) * np.linalg.norm(theirs, axis=1)))


def _vectors(response: infercore.EmbeddingResponse) -> np.ndarray:
    return np.array([item.embedding for item in response.data], dtype=np.float64)


@pytest.mark.parametrize("batch", [1, 3, len(SENTENCES)])
def test_vectors_equal_sentence_transformers(
    engine: infercore.Engine, reference: SentenceTransformer, batch: int
) -> None:
    expected = reference.encode(SENTENCES, batch_size=batch)
    for start in range(0, len(SENTENCES), batch):
        chunk = SENTENCES[start : start + batch]
        response = engine.embed(chunk)
        assert [item.index for item in response.data] == list(range(len(chunk)))
        cosines = _cosines(_vectors(response), expected[start : start + batch])
        assert cosines.min() >= 1 - 1e-5, cosines


def test_vectors_are_unit_length_as_the_config_normalises(engine: infercore.Engine) -> None:
    vectors = _vectors(engine.embed(SENTENCES))
    assert vectors.shape == (len(SENTENCES), 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_usage_counts_the_tokens_with_special_tokens(engine: infercore.Engine) -> None:
    tokenizer = engine.backend.tokenizer
    response = engine.embed(SENTENCES[:2])
    expected = sum(len(tokenizer.encode(text)) for text in SENTENCES[:2])
    assert response.usage.prompt_tokens == response.usage.total_tokens == expected
    assert response.object == "list"
    assert response.data[0].object == "embedding"


def test_token_ids_embed_as_their_text(engine: infercore.Engine) -> None:
    ids = engine.backend.tokenizer.encode(SENTENCES[0])
    by_text, by_ids = engine.embed([SENTENCES[0]]), engine.embed([ids])
    np.testing.assert_allclose(_vectors(by_ids), _vectors(by_text), atol=1e-6)
    # One list of ids alone is one input, as in the OpenAI API.
    assert len(engine.embed(ids).data) == 1


def test_dimensions_truncate_and_renormalise(engine: infercore.Engine) -> None:
    full = _vectors(engine.embed([SENTENCES[1]]))[0]
    short = _vectors(engine.embed([SENTENCES[1]], {"dimensions": 64}))[0]
    assert short.shape == (64,)
    np.testing.assert_allclose(short, full[:64] / np.linalg.norm(full[:64]), atol=1e-6)
    with pytest.raises(infercore.InvalidRequestError) as caught:
        engine.embed([SENTENCES[1]], {"dimensions": 385})
    assert caught.value.param == "dimensions"


def test_base64_is_the_float32_of_the_vector(engine: infercore.Engine) -> None:
    floats = _vectors(engine.embed(SENTENCES[:2]))
    encoded = engine.embed(SENTENCES[:2], infercore.EmbedConfig(encoding_format="base64"))
    for row, item in zip(floats, encoded.data, strict=True):
        assert isinstance(item.embedding, str)
        decoded = np.frombuffer(base64.b64decode(item.embedding), dtype="<f4")
        np.testing.assert_array_equal(decoded, row.astype(np.float32))


def test_an_input_longer_than_the_model_takes_is_refused_or_truncated(
    engine: infercore.Engine, reference: SentenceTransformer
) -> None:
    long_text = " ".join(["word"] * 400)
    assert engine.backend.max_model_len == reference.max_seq_length == 256
    with pytest.raises(infercore.InvalidRequestError, match="256") as caught:
        engine.embed([long_text])
    assert caught.value.param == "input"
    # Cut to the model's length, as sentence-transformers cuts every input.
    cut = engine.embed([long_text], {"truncate_prompt_tokens": -1})
    assert cut.usage.prompt_tokens == 256
    cosine = _cosines(_vectors(cut), reference.encode([long_text]))
    assert cosine.min() >= 1 - 1e-5


@pytest.mark.parametrize(
    ("inputs", "param"),
    [
        ([], "input"),
        ([""], "input"),
        ([[10**9]], "input"),
        ([{"role": "user", "content": "hi"}], "input"),
        ([[{"role": "user", "content": "hi"}]], "input"),  # MiniLM has no chat template
    ],
)
def test_bad_inputs_are_refused_naming_the_field(
    engine: infercore.Engine, inputs: object, param: str
) -> None:
    with pytest.raises(infercore.InvalidRequestError) as caught:
        engine.embed(inputs)  # type: ignore[arg-type]
    assert caught.value.param == param


def test_an_embedding_engine_does_not_generate(engine: infercore.Engine) -> None:
    with pytest.raises(infercore.InvalidRequestError, match="embed") as caught:
        engine.infer([{"messages": [{"role": "user", "content": "hi"}]}])
    assert caught.value.param == "model"


async def test_embed_async_matches_embed(engine: infercore.Engine) -> None:
    together = _vectors(engine.embed(SENTENCES[:2]))
    alone = _vectors(await engine.embed_async(SENTENCES[:2]))
    np.testing.assert_allclose(alone, together, atol=1e-6)

"""``POST /v1/embeddings`` of the real ``infercore deploy`` on pt, with all-MiniLM-L6-v2,
against sentence-transformers' own encode: the official ``openai`` client and InferClient.

One server for the module (``-O task=embed``).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import numpy as np
import openai
import pytest
from embedding_models import minilm_folder
from sentence_transformers import SentenceTransformer

from infercore import InferClient, InvalidRequestError
from infercore.testing import deployed

SERVED = "minilm"
KEY = "sk-embed-test"
SENTENCES = [
    "The capital of France is Paris.",
    "A man is playing a guitar on the street.",
    "short",
    "Embeddings turn text into vectors that sit close when the meanings are close.",
]


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    flags = ["--model", str(minilm_folder()), "--backend", "pt", "-O", "task=embed",
             "--served-model-name", SERVED, "--api-key", KEY]  # fmt: skip
    with deployed(*flags, env={"OMP_NUM_THREADS": "1"}) as root:
        yield root


@pytest.fixture(scope="module")
def client(url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{url}/v1", api_key=KEY, max_retries=0) as client:
        yield client


@pytest.fixture(scope="module")
def expected() -> np.ndarray:
    return np.asarray(SentenceTransformer(str(minilm_folder()), device="cpu").encode(SENTENCES))


def _min_cosine(ours: list[list[float]], theirs: np.ndarray) -> float:
    a = np.array(ours, dtype=np.float64)
    b = theirs.astype(np.float64)
    return float(((a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))).min())


@pytest.mark.parametrize("encoding_format", ["float", "base64", None])
def test_openai_embeddings_equal_sentence_transformers(
    client: openai.OpenAI, expected: np.ndarray, encoding_format: str | None
) -> None:
    """None: the client asks for base64 itself and decodes it."""
    extra = {} if encoding_format is None else {"encoding_format": encoding_format}
    answer = client.embeddings.create(model=SERVED, input=SENTENCES, **extra)  # type: ignore[arg-type]
    assert answer.model == SERVED
    assert [item.index for item in answer.data] == list(range(len(SENTENCES)))
    if encoding_format == "base64":
        vectors = [
            np.frombuffer(base64.b64decode(str(item.embedding)), dtype="<f4").tolist()
            for item in answer.data
        ]
    else:
        vectors = [list(item.embedding) for item in answer.data]
    assert _min_cosine(vectors, expected) >= 1 - 1e-5
    assert answer.usage.prompt_tokens == answer.usage.total_tokens > len(SENTENCES)


def test_token_lists_and_dimensions(client: openai.OpenAI, expected: np.ndarray) -> None:
    tokenizer = SentenceTransformer(str(minilm_folder()), device="cpu").tokenizer
    ids = [tokenizer.encode(text) for text in SENTENCES[:2]]
    by_ids = client.embeddings.create(model=SERVED, input=ids, encoding_format="float")
    assert _min_cosine([list(item.embedding) for item in by_ids.data], expected[:2]) >= 1 - 1e-5
    one = client.embeddings.create(model=SERVED, input=ids[0], encoding_format="float")
    assert len(one.data) == 1
    short = client.embeddings.create(
        model=SERVED, input=SENTENCES[0], dimensions=32, encoding_format="float"
    )
    vector = np.array(short.data[0].embedding)
    assert vector.shape == (32,)
    np.testing.assert_allclose(
        vector, expected[0][:32] / np.linalg.norm(expected[0][:32]), atol=1e-5
    )


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        ({"input": []}, 400, "input"),
        ({"input": [""]}, 400, "input"),
        ({"input": " ".join(["word"] * 300)}, 400, "input"),
        ({"input": "hi", "dimensions": 1000}, 400, "dimensions"),
        ({"input": "hi", "normalize": False}, 400, "normalize"),
        # Values the body's schema refuses, as on every route of this server.
        ({"input": "hi", "dimensions": 0}, 422, "dimensions"),
        ({"input": "hi", "encoding_format": "int8"}, 422, "encoding_format"),
        ({"input": [1.5]}, 422, "input"),
    ],
)
def test_bad_bodies_are_refused_naming_the_field(
    client: openai.OpenAI, body: dict[str, object], status: int, param: str
) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        client.post("/embeddings", body={"model": SERVED, **body}, cast_to=httpx.Response)
    assert caught.value.status_code == status
    assert caught.value.param == param


def test_a_long_input_is_cut_when_asked(client: openai.OpenAI, expected: np.ndarray) -> None:
    answer = client.embeddings.create(
        model=SERVED,
        input=" ".join(["word"] * 300),
        encoding_format="float",
        extra_body={"truncate_prompt_tokens": -1},
    )
    assert answer.usage.prompt_tokens == 256


def test_an_unknown_model_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.embeddings.create(model="nope", input="hi")
    assert caught.value.param == "model"


def test_chat_on_an_embedding_server_is_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="embed") as caught:
        client.chat.completions.create(
            model=SERVED, messages=[{"role": "user", "content": "hi"}], max_tokens=4
        )
    assert caught.value.param == "model"


def test_infer_client_embed_equals_the_server(url: str, expected: np.ndarray) -> None:
    with InferClient(url, api_key=KEY) as remote:
        answer = remote.embed(SENTENCES)
        assert answer.model == SERVED
        vectors = [item.embedding for item in answer.data]
        assert all(isinstance(vector, list) for vector in vectors)
        assert _min_cosine(vectors, expected) >= 1 - 1e-5  # type: ignore[arg-type]
        encoded = remote.embed(SENTENCES[0], {"encoding_format": "base64"}).data[0].embedding
        assert isinstance(encoded, str)
        with pytest.raises(InvalidRequestError) as caught:
            remote.embed(SENTENCES[0], {"dimensions": 1000})
        assert caught.value.param == "dimensions"


async def test_infer_client_embed_async(url: str, expected: np.ndarray) -> None:
    async with InferClient(url, api_key=KEY) as remote:
        answer = await remote.embed_async(SENTENCES[:2])
    vectors = [item.embedding for item in answer.data]
    assert _min_cosine(vectors, expected[:2]) >= 1 - 1e-5  # type: ignore[arg-type]


def _prompt_tokens_counted(url: str) -> float:
    metrics = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {KEY}"}).text
    (line,) = [
        line for line in metrics.splitlines() if line.startswith("infercore_prompt_tokens_total{")
    ]
    return float(line.rsplit(" ", 1)[1])


def test_the_metrics_count_the_prompt_tokens(client: openai.OpenAI, url: str) -> None:
    before = _prompt_tokens_counted(url)
    answer = client.embeddings.create(model=SERVED, input="count me", encoding_format="float")
    assert _prompt_tokens_counted(url) == before + answer.usage.prompt_tokens

"""Scores and reranking from the real ``infercore deploy`` on pt: a cross-encoder (SmolLM2
with a seeded one-label head) served with ``-O task=score``, over real HTTP to httpx (the
Jina/Cohere rerank body, vLLM's score body) and InferClient; the refusals in OpenAI's shape;
and a process reward model's step scores from ``/pooling``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import httpx
import pytest
from score_models import (
    STEP_TAG,
    make_process_reward_model,
    make_reward_model,
    transformers_logits,
)

from infercore import InferClient, InvalidRequestError
from infercore.testing import deployed

SERVED = "reranker"
KEY = "sk-score-test"
QUERY = "What is the capital of France?"
DOCUMENTS = [
    "Dogs are loyal animals.",
    "Paris is the capital of France.",
    "The Eiffel Tower stands in Paris.",
]


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    model = make_reward_model(tmp_path_factory.getbasetemp() / "reward-model")
    flags = ["--model", str(model), "--backend", "pt", "-O", "task=score",
             "--served-model-name", SERVED, "--api-key", KEY]  # fmt: skip
    with deployed(*flags, env={"OMP_NUM_THREADS": "1"}) as root:
        yield root


@pytest.fixture(scope="module")
def http(url: str) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {KEY}"}
    with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
        yield client


def test_rerank_score_and_the_client_agree(http: httpx.Client, url: str) -> None:
    scored = http.post("/v1/score", json={"model": SERVED, "text_1": QUERY, "text_2": DOCUMENTS})
    assert scored.status_code == 200, scored.text
    body = scored.json()
    assert body["object"] == "list"
    assert body["model"] == SERVED
    scores = [item["score"] for item in body["data"]]
    order = sorted(range(len(DOCUMENTS)), key=lambda i: scores[i], reverse=True)
    cohere = {"model": SERVED, "query": QUERY, "documents": DOCUMENTS, "top_n": 2}
    for path in ("/v1/rerank", "/rerank", "/v2/rerank"):
        ranked = http.post(path, json=cohere).json()
        assert [result["index"] for result in ranked["results"]] == order[:2]
        assert ranked["results"][0]["relevance_score"] == pytest.approx(scores[order[0]])
        assert ranked["results"][0]["document"] == {"text": DOCUMENTS[order[0]]}
        assert ranked["usage"]["total_tokens"] == body["usage"]["total_tokens"]
    with InferClient(f"{url}/v1", api_key=KEY) as client:
        assert client.model == SERVED
        ours = client.rerank(QUERY, DOCUMENTS, return_documents=False)
        pairs = client.score([QUERY] * 3, DOCUMENTS)
        with pytest.raises(InvalidRequestError) as refused:
            client.score([QUERY, QUERY], DOCUMENTS)
    assert [result.index for result in ours.results] == order
    assert all(result.document is None for result in ours.results)
    assert [item.score for item in pairs.data] == pytest.approx(scores)
    assert refused.value.param == "text_1"


@pytest.mark.parametrize(
    ("path", "body", "status", "param"),
    [
        ("/v1/rerank", {"model": SERVED, "query": QUERY}, 422, "documents"),
        ("/v1/rerank", {"model": SERVED, "query": QUERY, "documents": ["a"], "top_n": -1},
         422, "top_n"),
        ("/v1/rerank", {"model": SERVED, "query": QUERY, "documents": ["a"], "rank_fields": []},
         400, "rank_fields"),
        ("/v1/score", {"model": SERVED, "text_1": QUERY, "text_2": []}, 400, "text_2"),
        ("/v1/score", {"model": "other", "text_1": QUERY, "text_2": "a"}, 404, "model"),
        ("/v1/classify", {"model": SERVED, "input": "a"}, 400, "model"),
        ("/v1/embeddings", {"model": SERVED, "input": "a"}, 400, "model"),
        ("/pooling", {"model": SERVED, "input": "a", "step_tag": STEP_TAG}, 400, "model"),
    ],
)  # fmt: skip
def test_refusals_name_the_field(
    http: httpx.Client, path: str, body: dict[str, object], status: int, param: str
) -> None:
    answer = http.post(path, json=body)
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["param"] == param


def test_chat_is_refused_and_the_routes_are_documented_and_counted(
    http: httpx.Client, url: str
) -> None:
    chat = {"model": SERVED, "messages": [{"role": "user", "content": "hi"}]}
    refused = http.post("/v1/chat/completions", json=chat)
    assert refused.status_code == 400
    assert refused.json()["error"]["param"] == "model"
    assert httpx.post(f"{url}/v1/rerank", json={}).status_code == 401
    paths = http.get("/openapi.json").json()["paths"]
    assert {"/v1/classify", "/v1/score", "/v1/rerank", "/pooling"} <= set(paths)
    metrics = http.get("/metrics").text
    assert 'route="/v1/rerank"' in metrics


def test_pooling_gives_a_process_reward_models_scores_at_each_step(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    from transformers import AutoTokenizer

    model = make_process_reward_model(tmp_path_factory.getbasetemp() / "process-reward")
    text = f"3*4=12.{STEP_TAG}2+12=14.{STEP_TAG}"
    ids = AutoTokenizer.from_pretrained(model).encode(text)
    tag = ids[-1]
    logits = transformers_logits(model, [ids])[0]
    expected = [_softmax(row) for row, token in zip(logits, ids, strict=True) if token == tag]
    flags = ["--model", str(model), "--backend", "pt", "-O", "task=token_classify",
             "--served-model-name", "prm"]  # fmt: skip
    with deployed(*flags, env={"OMP_NUM_THREADS": "1"}) as root:
        body = {"model": "prm", "input": [text, text], "step_tag": STEP_TAG}
        answers = [httpx.post(f"{root}{path}", json=body, timeout=120) for path in
                   ("/pooling", "/v1/pooling")]  # fmt: skip
        with InferClient(f"{root}/v1") as client:
            ours = client.step_scores(text, STEP_TAG)
        wrong_tag = httpx.post(f"{root}/pooling", json={**body, "step_tag": "two words"})

    for answer in answers:
        assert answer.status_code == 200, answer.text
        data = answer.json()["data"]
        assert [item["index"] for item in data] == [0, 1]
        for item in data:
            assert item["object"] == "pooling"
            assert item["data"] == [pytest.approx(row, abs=1e-5) for row in expected]
        assert answer.json()["usage"]["prompt_tokens"] == 2 * len(ids)
    assert ours.data[0].data == [pytest.approx(row, abs=1e-5) for row in expected]
    assert len(expected) == 2
    assert wrong_tag.status_code == 400
    assert wrong_tag.json()["error"]["param"] == "step_tag"


def _softmax(row: list[float]) -> list[float]:
    top = max(row)
    exps = [math.exp(value - top) for value in row]
    return [value / sum(exps) for value in exps]

"""The conformance tests of a backend that declares the ``classify``, ``score`` or
``token_classify`` task.

They run on an engine of the backend loaded with ``task="classify"`` on the model the
``classify_model`` fixture gives, with ``task="score"`` on the ``score_model`` one,
and with ``task="token_classify"`` on the ``step_model`` one, one engine per class;
a backend whose capabilities do not list the task, or a class whose fixture gives no
model, skips them. What they check holds for any sequence classifier, cross-encoder
and process reward model: one answer per input (per step), in order, that does not
depend on its batch; the activation the model's config names over the raw logits;
token ids that classify as their text; usage; the length limit; the ranking; the
refusals (naming the field); and the routes served over HTTP, to ``httpx`` and
:class:`~infercore.InferClient` alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from infercore._client import InferClient
from infercore._engine import Engine
from infercore._errors import InvalidRequestError
from infercore._plugins import get_plugin_manager
from infercore._score_types import ClassificationResponse
from infercore.testing._serving import serving_engine
from infercore.testing._suite import SuiteBase

__all__ = ["ScoreTests"]

TEXTS = [
    "I loved every minute of this film.",
    "The service was slow and the food was cold.",
    "ok",
    "The capital of France is Paris, which lies on the Seine.",
]
QUERY = "What is the capital of France?"
DOCUMENTS = [
    "Dogs are loyal animals.",
    "Paris is the capital of France.",
    "The Eiffel Tower is in Paris, the French capital.",
]


def _engine(cls: type[SuiteBase], task: str, model: str | None, **options: Any) -> Iterator[Engine]:
    spec = get_plugin_manager().registry.get(cls.backend).spec
    if task not in spec.capabilities.tasks:
        pytest.skip(f"backend {cls.backend!r} does not declare the {task} task")
    if model is None:
        pytest.skip(f"no {task} model named for this backend")
    with Engine(model, backend=cls.backend, task=task, **options) as engine:
        yield engine


def _probs(response: ClassificationResponse) -> list[list[float]]:
    return [item.probs for item in response.data]


def _flat(rows: list[list[float]]) -> list[float]:
    """Every input's numbers in one list, as ``pytest.approx`` compares them."""
    return [value for row in rows for value in row]


class ScoreTests(SuiteBase):
    """Capability-gated classification and score tests; override the ``classify_model``
    and ``score_model`` fixtures (a path or name each), and set ``score_options``."""

    score_options: ClassVar[dict[str, Any]] = {}

    @pytest.fixture(scope="class")
    @classmethod
    def classify_model(cls) -> str | None:
        """A sequence-classification model of the backend, or None: the tests skip."""
        return None

    @pytest.fixture(scope="class")
    @classmethod
    def score_model(cls) -> str | None:
        """A cross-encoder (a classifier of one label) of the backend, or None."""
        return None

    @pytest.fixture(scope="class")
    @classmethod
    def step_model(cls) -> tuple[str, str] | None:
        """A process reward model of the backend and its step tag (one token), or None."""
        return None

    @pytest.fixture(scope="class")
    @classmethod
    def classify_engine(cls, classify_model: str | None) -> Iterator[Engine]:
        yield from _engine(cls, "classify", classify_model, **cls.score_options)

    @pytest.fixture(scope="class")
    @classmethod
    def score_engine(cls, score_model: str | None) -> Iterator[Engine]:
        yield from _engine(cls, "score", score_model, **cls.score_options)

    @pytest.fixture(scope="class")
    @classmethod
    def step_engine(cls, step_model: tuple[str, str] | None) -> Iterator[Engine]:
        model = None if step_model is None else step_model[0]
        yield from _engine(cls, "token_classify", model, **cls.score_options)

    # -- classify ---------------------------------------------------------------------

    def test_each_input_gets_its_class_in_order(self, classify_engine: Engine) -> None:
        head = classify_engine.backend.classifier_head
        assert head is not None
        response = classify_engine.classify(TEXTS)
        assert response.object == "list"
        assert response.id.startswith("classify-")
        assert [item.index for item in response.data] == list(range(len(TEXTS)))
        for item in response.data:
            assert item.num_classes == len(item.probs) == len(head.labels)
            assert all(math.isfinite(p) for p in item.probs)
            best = max(range(len(item.probs)), key=lambda i: item.probs[i])
            assert item.label == head.labels[best]
            if head.classify_activation == "softmax":
                assert sum(item.probs) == pytest.approx(1.0, abs=1e-6)
        # Different texts, different answers.
        assert response.data[0].probs != response.data[1].probs

    def test_the_activation_is_applied_to_the_raw_logits(self, classify_engine: Engine) -> None:
        head = classify_engine.backend.classifier_head
        assert head is not None
        probs = _probs(classify_engine.classify(TEXTS))
        logits = _probs(classify_engine.classify(TEXTS, {"use_activation": False}))
        for row, raw in zip(probs, logits, strict=True):
            assert head.activate(raw, head.classify_activation) == pytest.approx(row, abs=1e-6)

    def test_a_class_does_not_depend_on_its_batch(self, classify_engine: Engine) -> None:
        together = _probs(classify_engine.classify(TEXTS))
        for text, batched in zip(TEXTS, together, strict=True):
            (alone,) = _probs(classify_engine.classify([text]))
            assert alone == pytest.approx(batched, abs=1e-4)

    def test_token_ids_classify_as_their_text(self, classify_engine: Engine) -> None:
        ids = list(classify_engine.backend.tokenizer.encode(TEXTS[0]))
        by_text, by_ids = classify_engine.classify(TEXTS[0]), classify_engine.classify([ids])
        assert _flat(_probs(by_ids)) == pytest.approx(_flat(_probs(by_text)), abs=1e-5)
        assert by_text.usage.prompt_tokens == by_ids.usage.prompt_tokens == len(ids)
        assert by_ids.usage.total_tokens == len(ids)

    def test_an_input_over_the_model_length_is_refused_unless_truncated(
        self, classify_engine: Engine
    ) -> None:
        limit = classify_engine.backend.max_model_len
        token = classify_engine.backend.tokenizer.encode("a", add_special_tokens=False)[0]
        with pytest.raises(InvalidRequestError) as refused:
            classify_engine.classify([[token] * (limit + 1)])
        assert refused.value.param == "input"
        cut = classify_engine.classify([[token] * (limit + 1)], {"truncate_prompt_tokens": 8})
        assert cut.usage.prompt_tokens == 8

    def test_a_classifier_refuses_the_other_calls(self, classify_engine: Engine) -> None:
        request = {"messages": [{"role": "user", "content": "Hello"}]}
        for call in (
            lambda: classify_engine.infer([request]),
            lambda: classify_engine.score(QUERY, DOCUMENTS),
            lambda: classify_engine.embed(TEXTS),
        ):
            with pytest.raises(InvalidRequestError) as refused:
                call()
            assert refused.value.param == "model"
        with pytest.raises(InvalidRequestError) as empty:
            classify_engine.classify([])
        assert empty.value.param == "input"

    def test_classify_served_over_http(self, classify_engine: Engine) -> None:
        """``/v1/classify`` and vLLM's ``/classify`` through the real server app, to httpx
        and to :class:`InferClient`; a score route on a classifier is a 400 naming model."""
        httpx = pytest.importorskip("httpx")
        pytest.importorskip("fastapi", reason="the server needs 'infercore[serve]'")
        expected = _probs(classify_engine.classify(TEXTS))
        with (
            serving_engine(classify_engine) as url,
            httpx.Client(base_url=url, timeout=120) as http,
        ):
            model = http.get("/v1/models").json()["data"][0]["id"]
            for path in ("/v1/classify", "/classify"):
                answer = http.post(path, json={"model": model, "input": TEXTS})
                assert answer.status_code == 200, answer.text
                body = answer.json()
                assert body["model"] == model
                served_probs = [item["probs"] for item in body["data"]]
                assert _flat(served_probs) == pytest.approx(_flat(expected))
            unknown = http.post("/v1/classify", json={"model": model, "input": TEXTS, "x": 1})
            wrong = http.post("/v1/rerank", json={"model": model, "query": "q", "documents": ["d"]})
            with InferClient(f"{url}/v1") as client:
                served = client.classify(TEXTS)
                with pytest.raises(InvalidRequestError) as refused:
                    client.classify([])
        assert _flat(_probs(served)) == pytest.approx(_flat(expected))
        assert served.usage.prompt_tokens == classify_engine.classify(TEXTS).usage.prompt_tokens
        assert refused.value.param == "input"
        assert unknown.status_code == 400
        assert unknown.json()["error"]["param"] == "x"
        assert wrong.status_code == 400
        assert wrong.json()["error"]["param"] == "model"

    # -- score and rerank ---------------------------------------------------------------

    def test_each_pair_gets_a_score_in_order(self, score_engine: Engine) -> None:
        response = score_engine.score(QUERY, DOCUMENTS)
        assert response.id.startswith("score-")
        assert [item.index for item in response.data] == list(range(len(DOCUMENTS)))
        scores = [item.score for item in response.data]
        assert all(math.isfinite(score) for score in scores)
        assert len(set(scores)) == len(scores)
        # One query per document pairs them one to one.
        pairwise = score_engine.score([QUERY] * len(DOCUMENTS), DOCUMENTS)
        assert [item.score for item in pairwise.data] == pytest.approx(scores, abs=1e-5)
        tokenizer = score_engine.backend.tokenizer
        tokens = sum(len(tokenizer.encode(QUERY, text_pair=doc)) for doc in DOCUMENTS)
        assert response.usage.prompt_tokens == tokens

    def test_a_score_does_not_depend_on_its_batch(self, score_engine: Engine) -> None:
        together = [item.score for item in score_engine.score(QUERY, DOCUMENTS).data]
        for document, batched in zip(DOCUMENTS, together, strict=True):
            (alone,) = score_engine.score(QUERY, document).data
            assert alone.score == pytest.approx(batched, abs=1e-4)

    def test_rerank_orders_documents_by_score(self, score_engine: Engine) -> None:
        scores = [item.score for item in score_engine.score(QUERY, DOCUMENTS).data]
        ranked = score_engine.rerank(QUERY, DOCUMENTS)
        order = sorted(range(len(DOCUMENTS)), key=lambda i: scores[i], reverse=True)
        assert [result.index for result in ranked.results] == order
        for result in ranked.results:
            assert result.relevance_score == pytest.approx(scores[result.index], abs=1e-6)
            assert result.document is not None
            assert result.document.text == DOCUMENTS[result.index]
        top = score_engine.rerank(QUERY, DOCUMENTS, top_n=1, return_documents=False)
        assert [result.index for result in top.results] == order[:1]
        assert top.results[0].document is None
        assert top.usage.total_tokens == ranked.usage.total_tokens > 0

    def test_score_refusals_name_the_field(self, score_engine: Engine) -> None:
        cases: list[tuple[Any, str]] = [
            (lambda: score_engine.score([QUERY, QUERY], DOCUMENTS), "query"),
            (lambda: score_engine.score(QUERY, []), "documents"),
            (lambda: score_engine.rerank(QUERY, DOCUMENTS, top_n=-1), "top_n"),
            (lambda: score_engine.classify(TEXTS), "model"),
            (
                lambda: score_engine.score(QUERY, DOCUMENTS, {"truncate_prompt_tokens": -2}),
                "truncate_prompt_tokens",
            ),
        ]
        for call, param in cases:
            with pytest.raises(InvalidRequestError) as refused:
                call()
            assert refused.value.param == param

    def test_score_and_rerank_served_over_http(self, score_engine: Engine) -> None:
        """vLLM's score and rerank paths through the real server app, to httpx and to
        :class:`InferClient`; field names in errors are the body's."""
        httpx = pytest.importorskip("httpx")
        pytest.importorskip("fastapi", reason="the server needs 'infercore[serve]'")
        expected = [item.score for item in score_engine.score(QUERY, DOCUMENTS).data]
        order = sorted(range(len(DOCUMENTS)), key=lambda i: expected[i], reverse=True)
        with serving_engine(score_engine) as url, httpx.Client(base_url=url, timeout=120) as http:
            model = http.get("/v1/models").json()["data"][0]["id"]
            for path in ("/v1/score", "/score"):
                body = {"model": model, "text_1": QUERY, "text_2": DOCUMENTS}
                answer = http.post(path, json=body).json()
                assert [item["score"] for item in answer["data"]] == pytest.approx(expected)
            for path in ("/v1/rerank", "/rerank", "/v2/rerank"):
                body = {"model": model, "query": QUERY, "documents": DOCUMENTS, "top_n": 2}
                answer = http.post(path, json=body).json()
                assert [result["index"] for result in answer["results"]] == order[:2]
                assert answer["results"][0]["document"]["text"] == DOCUMENTS[order[0]]
            mismatched = http.post(
                "/v1/score", json={"model": model, "text_1": ["a", "b"], "text_2": DOCUMENTS}
            )
            classify = http.post("/v1/classify", json={"model": model, "input": "a"})
            with InferClient(f"{url}/v1") as client:
                scored = client.score(QUERY, DOCUMENTS)
                ranked = client.rerank(QUERY, DOCUMENTS, top_n=2, return_documents=False)
        assert [item.score for item in scored.data] == pytest.approx(expected)
        assert [result.index for result in ranked.results] == order[:2]
        assert ranked.results[0].document is None
        assert mismatched.status_code == 400
        assert mismatched.json()["error"]["param"] == "text_1"
        assert classify.status_code == 400
        assert classify.json()["error"]["param"] == "model"

    # -- process rewards ----------------------------------------------------------------

    def test_each_step_tag_gets_a_score_independent_of_the_batch(
        self, step_engine: Engine, step_model: tuple[str, str]
    ) -> None:
        tag = step_model[1]
        texts = [f"{text}{tag}" * (index + 1) for index, text in enumerate(TEXTS)]
        head = step_engine.backend.classifier_head
        assert head is not None
        together = step_engine.step_scores(texts, tag)
        assert together.id.startswith("pooling-")
        assert [len(item.data) for item in together.data] == [1, 2, 3, 4]
        for text, item in zip(texts, together.data, strict=True):
            assert all(len(step) == len(head.labels) for step in item.data)
            (alone,) = step_engine.step_scores([text], tag).data
            assert _flat(alone.data) == pytest.approx(_flat(item.data), abs=1e-4)
        assert step_engine.step_scores(TEXTS[0], tag).data[0].data == []
        with pytest.raises(InvalidRequestError) as refused:
            step_engine.step_scores(texts, tag + tag)
        assert refused.value.param == "step_tag"

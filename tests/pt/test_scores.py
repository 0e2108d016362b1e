"""Classification, reward and score models on the pt backend: SmolLM2 with a seeded head,
saved and loaded as a user's checkpoint, against a plain transformers forward.

The conformance suite (tests/pt/test_conformance.py) checks what holds for any such
model; here the numbers themselves, from batches of two that pad their rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from score_models import (
    CLASSIFIER_LABELS,
    STEP_TAG,
    make_classifier,
    make_process_reward_model,
    make_reward_model,
    transformers_logits,
)

import infercore

TEXTS = [
    "I loved every minute of this film.",
    "The service was slow and the food was cold.",
    "ok",
    "The capital of France is Paris, which lies on the Seine.",
    "Rain again today.",
]
QUERY = "What is the capital of France?"
DOCUMENTS = ["Paris is the capital of France.", "Dogs bark.", "France's capital city is Paris."]


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_classifier(tmp_path_factory.getbasetemp() / "classifier")


@pytest.fixture(scope="module")
def reward_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_reward_model(tmp_path_factory.getbasetemp() / "reward-model")


@pytest.fixture(scope="module")
def classify_engine(classifier: Path) -> Iterator[infercore.Engine]:
    # Batches of two: rows of different lengths share a padded batch.
    with infercore.Engine(str(classifier), backend="pt", task="classify", max_batch_size=2) as e:
        yield e


def _softmax(row: list[float]) -> list[float]:
    top = max(row)
    exps = [math.exp(value - top) for value in row]
    return [value / sum(exps) for value in exps]


def _sigmoid(value: float) -> float:
    return 1 / (1 + math.exp(-value))


def test_classifier_probabilities_equal_a_transformers_forward(
    classify_engine: infercore.Engine, classifier: Path
) -> None:
    tokenizer = classify_engine.backend.tokenizer
    expected = transformers_logits(classifier, [tokenizer.encode(text) for text in TEXTS])
    response = classify_engine.classify(TEXTS)
    raw = classify_engine.classify(TEXTS, {"use_activation": False})
    for item, logits, row in zip(response.data, raw.data, expected, strict=True):
        assert logits.probs == pytest.approx(row, abs=1e-5)
        assert item.probs == pytest.approx(_softmax(row), abs=1e-5)
        assert item.label == CLASSIFIER_LABELS[row.index(max(row))]
        assert item.num_classes == 3


def test_a_reward_model_gives_its_raw_reward_and_its_sigmoid(
    reward_model: Path,
) -> None:
    with infercore.Engine(str(reward_model), backend="pt", task="classify") as engine:
        ids = [engine.backend.tokenizer.encode(text) for text in TEXTS[:3]]
        rewards = engine.classify(TEXTS[:3], {"use_activation": False})
        probabilities = engine.classify(TEXTS[:3])
    expected = transformers_logits(reward_model, ids)
    answers = zip(rewards.data, probabilities.data, expected, strict=True)
    for reward, probability, (logit,) in answers:
        assert reward.probs == pytest.approx([logit], abs=1e-5)
        # One label: vLLM's activation is the sigmoid, and the label is the only one.
        assert probability.probs == pytest.approx([_sigmoid(logit)], abs=1e-6)
        assert probability.label == "LABEL_0"


def test_cross_encoder_scores_equal_a_transformers_forward_on_the_pair(reward_model: Path) -> None:
    with infercore.Engine(str(reward_model), backend="pt", task="score", max_batch_size=2) as e:
        tokenizer = e.backend.tokenizer
        pairs = [tokenizer.encode(QUERY, text_pair=doc) for doc in DOCUMENTS]
        scored = e.score(QUERY, DOCUMENTS)
        raw = e.score(QUERY, DOCUMENTS, {"use_activation": False})
        ranked = e.rerank(QUERY, DOCUMENTS)
    expected = [logit for (logit,) in transformers_logits(reward_model, pairs)]
    assert [item.score for item in raw.data] == pytest.approx(expected, abs=1e-5)
    assert [item.score for item in scored.data] == pytest.approx(
        [_sigmoid(logit) for logit in expected], abs=1e-6
    )
    best_first = sorted(range(len(expected)), key=lambda i: expected[i], reverse=True)
    assert [result.index for result in ranked.results] == best_first


def test_process_rewards_are_the_token_classifier_at_each_step_tag(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A conversation whose answer ends each step with the step tag: one score per step,
    the softmax of a plain transformers forward's logits at that token; batched alike."""
    model = make_process_reward_model(tmp_path_factory.getbasetemp() / "process-reward")
    answer = f"3*4=12.{STEP_TAG}2+12=14.{STEP_TAG}The answer is 14.{STEP_TAG}"
    conversation = [
        {"role": "user", "content": "What is 2+3*4?"},
        {"role": "assistant", "content": answer},
    ]
    with infercore.Engine(str(model), backend="pt", task="token_classify", max_batch_size=2) as e:
        tokenizer = e.backend.tokenizer
        rendered = tokenizer.apply_chat_template(conversation, tokenize=False)
        ids = [
            tokenizer.encode(rendered, add_special_tokens=False),
            tokenizer.encode(f"one{STEP_TAG}"),
        ]
        scored = e.step_scores([conversation, f"one{STEP_TAG}", conversation], STEP_TAG)
        raw = e.step_scores([conversation], STEP_TAG, {"use_activation": False})
        with pytest.raises(infercore.InvalidRequestError) as refused:
            e.step_scores([conversation], "two tokens")
        with pytest.raises(infercore.InvalidRequestError) as wrong_call:
            e.classify([conversation])
    tag = tokenizer.convert_tokens_to_ids(STEP_TAG)
    for index, token_ids in ((0, ids[0]), (1, ids[1]), (2, ids[0])):
        logits = transformers_logits(model, [token_ids])[0]
        expected = [row for row, token in zip(logits, token_ids, strict=True) if token == tag]
        assert len(expected) == (3 if token_ids is ids[0] else 1)
        steps = scored.data[index].data
        assert [step for flat in steps for step in flat] == pytest.approx(
            [p for row in expected for p in _softmax(row)], abs=1e-5
        )
        if index == 0:
            assert [v for row in raw.data[0].data for v in row] == pytest.approx(
                [v for row in expected for v in row], abs=1e-5
            )
    assert scored.usage.prompt_tokens == 2 * len(ids[0]) + len(ids[1])
    assert refused.value.param == "step_tag"
    assert wrong_call.value.param == "model"


def test_a_model_of_several_labels_does_not_load_to_score(classifier: Path) -> None:
    with pytest.raises(infercore.InvalidRequestError) as refused:
        infercore.Engine(str(classifier), backend="pt", task="score")
    assert refused.value.param == "model"
    assert "3 labels" in str(refused.value)


def test_a_cross_encoder_that_reads_token_type_ids_is_refused(tmp_path: Path) -> None:
    """A BERT-style pair carries segment ids, which pooling requests do not: refused at load
    rather than scored without them (all-MiniLM-L6-v2 with a one-label head)."""
    from embedding_models import minilm_folder
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()  # the new head is reported missing: it is
    try:
        model = AutoModelForSequenceClassification.from_pretrained(minilm_folder(), num_labels=1)
    finally:
        hf_logging.set_verbosity_warning()
    model.save_pretrained(tmp_path)
    AutoTokenizer.from_pretrained(minilm_folder()).save_pretrained(tmp_path)
    with pytest.raises(infercore.InvalidRequestError, match="token type ids") as refused:
        infercore.Engine(str(tmp_path), backend="pt", task="score")
    assert refused.value.param == "model"

"""Classification and scores on the real vLLM (its pooling runner, on the CPU): a
three-label classifier and a one-label cross-encoder around SmolLM2 with seeded heads,
against the pt backend, and the score conformance tests (rerank through the server app
included), one engine per model."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest
from score_models import make_classifier, make_reward_model
from vllm_settings import VLLM_OPTIONS

from infercore import Engine
from infercore.testing import ScoreConformance

TEXTS = [
    "I loved every minute of this film.",
    "The service was slow and the food was cold.",
    "ok",
    "Rain again today, and the trains are late.",
]


@pytest.fixture(scope="module")
def classifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_classifier(tmp_path_factory.getbasetemp() / "classifier")


@pytest.fixture(scope="module")
def cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_reward_model(tmp_path_factory.getbasetemp() / "cross-encoder")


class TestVllmScores(ScoreConformance):
    backend = "vllm"
    score_options: ClassVar[dict[str, Any]] = VLLM_OPTIONS

    @pytest.fixture(scope="class")
    @classmethod
    def classify_model(cls, classifier: Path) -> str:
        return str(classifier)

    @pytest.fixture(scope="class")
    @classmethod
    def score_model(cls, cross_encoder: Path) -> str:
        return str(cross_encoder)

    def test_scores_equal_the_pt_backends(self, score_engine: Engine, cross_encoder: Path) -> None:
        query, documents = "Which text is about food?", TEXTS
        ours = score_engine.score(query, documents)
        with Engine(str(cross_encoder), backend="pt", task="score") as pt:
            theirs = pt.score(query, documents)
        assert [item.score for item in ours.data] == pytest.approx(
            [item.score for item in theirs.data], abs=1e-3
        )
        assert ours.usage == theirs.usage

    def test_probabilities_equal_the_pt_backends(
        self, classify_engine: Engine, classifier: Path
    ) -> None:
        ours = classify_engine.classify(TEXTS)
        with Engine(str(classifier), backend="pt", task="classify") as pt:
            theirs = pt.classify(TEXTS)
            raw = pt.classify(TEXTS, {"use_activation": False})
        vllm_raw = classify_engine.classify(TEXTS, {"use_activation": False})
        for mine, reference in zip(ours.data, theirs.data, strict=True):
            assert mine.probs == pytest.approx(reference.probs, abs=1e-3)
            assert mine.label == reference.label
        for mine, reference in zip(vllm_raw.data, raw.data, strict=True):
            assert mine.probs == pytest.approx(reference.probs, abs=1e-3)
        assert ours.usage == theirs.usage

"""Classification on the real vLLM (its pooling runner, on the CPU): a three-label
classifier around SmolLM2 with a seeded head, against the pt backend, and the
classification conformance tests, on one engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest
from score_models import make_classifier
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


class TestVllmScores(ScoreConformance):
    backend = "vllm"
    score_options: ClassVar[dict[str, Any]] = VLLM_OPTIONS

    @pytest.fixture(scope="class")
    @classmethod
    def classify_model(cls, classifier: Path) -> str:
        return str(classifier)

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

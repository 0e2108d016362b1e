"""The pt backend passes the backend conformance suite on the real SmolLM2 model.

Two LoRA adapters with random weights, a small Idefics3 model around SmolLM2
for the image round trips, all-MiniLM-L6-v2 for the embedding tests, and
sequence classifiers around SmolLM2 (three labels; one) and a token classifier (a
process reward model) for the score tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

import infercore.testing

pytest.importorskip("torch")
pytest.importorskip("transformers")

from embedding_models import minilm_folder
from lora_models import two_lora_adapters
from score_models import STEP_TAG, make_classifier, make_process_reward_model, make_reward_model
from vlm_models import make_idefics3_model

MODEL = "smollm2-135m-instruct"


class TestPtConformance(infercore.testing.BackendConformance):
    backend = "pt"
    model = MODEL
    options: ClassVar[dict[str, Any]] = {"dtype": "float32"}
    embed_model = str(minilm_folder())

    @pytest.fixture(scope="class")
    @classmethod
    def adapters(cls, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
        path = infercore.get_plugin_manager().registry.resolve_model(MODEL)
        return two_lora_adapters(path, tmp_path_factory.mktemp("adapters"))

    @pytest.fixture(scope="class")
    @classmethod
    def media_engine(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[infercore.Engine]:
        model = make_idefics3_model(tmp_path_factory.mktemp("vlm") / "idefics3")
        with infercore.Engine(str(model), backend="pt", **cls.options) as engine:
            yield engine

    @pytest.fixture(scope="class")
    @classmethod
    def classify_model(cls, tmp_path_factory: pytest.TempPathFactory) -> str:
        return str(make_classifier(tmp_path_factory.getbasetemp() / "classifier"))

    @pytest.fixture(scope="class")
    @classmethod
    def score_model(cls, tmp_path_factory: pytest.TempPathFactory) -> str:
        return str(make_reward_model(tmp_path_factory.getbasetemp() / "reward-model"))

    @pytest.fixture(scope="class")
    @classmethod
    def step_model(cls, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
        model = make_process_reward_model(tmp_path_factory.getbasetemp() / "process-reward")
        return str(model), STEP_TAG

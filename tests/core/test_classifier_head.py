"""A classification head from its config: labels in order, and the activation vLLM applies
for classify and for score, on the core alone (no torch); the task refused by a backend
that lacks it."""

from __future__ import annotations

import math
from typing import Any

import pytest

from infercore import ClassifierHead, Engine, InvalidRequestError, get_plugin_manager
from infercore import _builtin as builtin


@pytest.mark.parametrize(
    ("config", "classify", "score"),
    [
        ({"id2label": {"0": "a", "1": "b", "2": "c"}}, "softmax", "softmax"),
        ({"num_labels": 1}, "sigmoid", "sigmoid"),
        ({"id2label": {0: "x", 1: "y"}, "problem_type": "regression"}, "identity", "softmax"),
        (
            {"id2label": {0: "x", 1: "y"}, "problem_type": "multi_label_classification"},
            "sigmoid",
            "softmax",
        ),
        (
            {
                "num_labels": 1,
                "sbert_ce_default_activation_function": "torch.nn.modules.linear.Identity",
            },
            "sigmoid",
            "identity",
        ),
        (
            {
                "num_labels": 1,
                "sentence_transformers": {"activation_fn": "torch.nn.modules.activation.Sigmoid"},
            },
            "sigmoid",
            "sigmoid",
        ),
    ],
)
def test_the_activation_follows_the_config(
    config: dict[str, Any], classify: str, score: str
) -> None:
    head = ClassifierHead.from_config(config)
    assert (head.classify_activation, head.score_activation) == (classify, score)


def test_labels_keep_the_heads_order_and_activations_compute() -> None:
    head = ClassifierHead.from_config({"id2label": {"1": "pos", "0": "neg"}, "num_labels": 2})
    assert head.labels == ("neg", "pos")
    probs = head.activate([1.0, 3.0], "softmax")
    assert probs == pytest.approx([1 / (1 + math.e**2), 1 / (1 + math.e**-2)])
    assert head.activate([-800.0, 800.0], "sigmoid") == [0.0, 1.0]
    assert head.activate([2.5, -1.0], "identity") == [2.5, -1.0]


def test_an_unknown_cross_encoder_activation_is_refused_naming_model() -> None:
    with pytest.raises(InvalidRequestError) as refused:
        ClassifierHead.from_config(
            {"num_labels": 1, "sbert_ce_default_activation_function": "os.system"}
        )
    assert refused.value.param == "model"


@pytest.mark.parametrize("task", ["classify", "score"])
def test_a_backend_without_the_task_is_refused_naming_task_and_backend(task: str) -> None:
    manager = get_plugin_manager()
    manager.register(builtin, "builtin")
    try:
        with pytest.raises(InvalidRequestError, match=rf"'echo'.*'{task}'") as refused:
            Engine("echo", backend="echo", task=task)
    finally:
        manager.unregister("builtin")
    assert refused.value.param == "task"

"""A classification head as its checkpoint's config describes it: labels, and how its
logits become probabilities.

Backends return the head's raw logits (:meth:`~infercore.Backend.pool` with task
``"classify"`` or ``"score"``); the core applies the activation, the same for every
backend, as vLLM does: for ``classify``, ``problem_type`` ``"regression"`` keeps the
logits, ``"multi_label_classification"`` takes each one's sigmoid, and otherwise a
head with one label takes its sigmoid and a head with more the softmax; for ``score``
(a cross-encoder), the sentence-transformers activation the config names
(``Identity`` or ``Sigmoid``), else the sigmoid of its one logit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from infercore._errors import EngineError, InvalidRequestError

__all__ = ["Activation", "ClassifierHead"]

Activation = Literal["softmax", "sigmoid", "identity"]

# sentence-transformers' cross-encoder activations, by their torch module's name.
_CROSS_ENCODER: dict[str, Activation] = {
    "torch.nn.modules.linear.Identity": "identity",
    "torch.nn.modules.activation.Sigmoid": "sigmoid",
}


def _sigmoid(value: float) -> float:
    if value >= 0:
        return 1.0 / (1.0 + math.exp(-value))
    small = math.exp(value)
    return small / (1.0 + small)


def _softmax(values: Sequence[float]) -> list[float]:
    top = max(values)
    exps = [math.exp(value - top) for value in values]
    total = sum(exps)
    return [value / total for value in exps]


def _labels(config: Mapping[str, Any]) -> tuple[str, ...]:
    id2label = config.get("id2label") or {}
    count = int(config.get("num_labels") or len(id2label))
    # A config read from JSON keys its labels by strings, one in memory by ints.
    names = {int(key): str(value) for key, value in id2label.items()}
    return tuple(names.get(index, f"LABEL_{index}") for index in range(count))


def _cross_encoder_activation(config: Mapping[str, Any]) -> Activation | None:
    named = (config.get("sentence_transformers") or {}).get("activation_fn") or config.get(
        "sbert_ce_default_activation_function"
    )
    if named is None:
        return None
    if named not in _CROSS_ENCODER:
        raise InvalidRequestError(
            f"the model's cross-encoder activation {named!r} is not one of "
            f"{sorted(_CROSS_ENCODER)}",
            param="model",
        )
    return _CROSS_ENCODER[named]


@dataclass(frozen=True)
class ClassifierHead:
    """A sequence-classification head: ``labels`` in the head's order (``id2label``),
    and the activation for ``classify`` and for ``score``."""

    labels: tuple[str, ...]
    classify_activation: Activation
    score_activation: Activation

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> ClassifierHead:
        """The head a transformers config (``config.json``, or ``to_dict()``) describes."""
        labels = _labels(config)
        if not labels:
            raise InvalidRequestError("the model's config declares no labels", param="model")
        single: Activation = "sigmoid" if len(labels) == 1 else "softmax"
        problem = config.get("problem_type")
        classify: Activation = (
            "identity"
            if problem == "regression"
            else "sigmoid"
            if problem == "multi_label_classification"
            else single
        )
        score = _cross_encoder_activation(config) or single
        return cls(labels, classify, score)

    def activate(self, logits: Sequence[float], activation: Activation) -> list[float]:
        values = [float(value) for value in logits]
        if len(values) != len(self.labels):
            raise EngineError(
                f"the backend gave {len(values)} logits for a head of {len(self.labels)} labels"
            )
        if activation == "softmax":
            return _softmax(values)
        if activation == "sigmoid":
            return [_sigmoid(value) for value in values]
        return values

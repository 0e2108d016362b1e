"""Small classification models for tests, built around the built-in SmolLM2's trained weights.

No model hub is reachable, so the sequence classifiers are assembled the way a user's
fine-tune starts: SmolLM2-135M-Instruct's trained decoder with a new ``score`` head,
drawn from a seeded generator, saved with the tokenizer as a checkpoint folder that an
engine loads by path. ``make_classifier`` (three named labels) classifies;
``make_reward_model`` (one label) is a reward model or cross-encoder;
``make_process_reward_model`` is a ``LlamaForTokenClassification`` of two labels
scored at ``STEP_TAG``, a token of SmolLM2's vocabulary, as Qwen2.5-Math-PRM is at
``<extra_0>``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "CLASSIFIER_LABELS",
    "STEP_TAG",
    "make_classifier",
    "make_process_reward_model",
    "make_reward_model",
    "transformers_logits",
]

_TEXT_MODEL = "smollm2-135m-instruct"
CLASSIFIER_LABELS = ("negative", "neutral", "positive")
#: The process reward model's step separator: one token of SmolLM2's vocabulary.
STEP_TAG = "<jupyter_text>"


def _build(folder: Path, labels: tuple[str, ...], seed: int, *, per_token: bool = False) -> Path:
    if (folder / "config.json").exists():
        return folder
    import torch
    from transformers import (
        AutoTokenizer,
        LlamaForSequenceClassification,
        LlamaForTokenClassification,
    )
    from transformers.utils import logging as hf_logging

    import infercore

    path = infercore.get_plugin_manager().registry.resolve_model(_TEXT_MODEL)
    tokenizer = AutoTokenizer.from_pretrained(path)
    verbosity = hf_logging.get_verbosity()
    # The load report lists the new head as missing from the checkpoint: it is.
    hf_logging.set_verbosity_error()
    try:
        kind = LlamaForTokenClassification if per_token else LlamaForSequenceClassification
        model = kind.from_pretrained(
            path,
            dtype=torch.float32,
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={label: index for index, label in enumerate(labels)},
            pad_token_id=tokenizer.pad_token_id,
        )
    finally:
        hf_logging.set_verbosity(verbosity)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        weight = torch.randn(model.score.weight.shape, generator=generator) * 0.05
        model.score.weight.copy_(weight)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def make_classifier(folder: Path) -> Path:
    """A three-label classifier (``CLASSIFIER_LABELS``) in ``folder`` (built once)."""
    return _build(folder, CLASSIFIER_LABELS, seed=3)


def make_reward_model(folder: Path) -> Path:
    """A one-label reward model / cross-encoder in ``folder`` (built once)."""
    return _build(folder, ("LABEL_0",), seed=1)


def make_process_reward_model(folder: Path) -> Path:
    """A two-label token classifier, a process reward model, in ``folder`` (built once)."""
    return _build(folder, ("bad", "good"), seed=5, per_token=True)


def transformers_logits(folder: Path, token_ids: list[list[int]]) -> list[list[float]]:
    """The head's logits for each input alone, by a plain transformers forward (a token
    classifier's: at every token)."""
    import torch
    from transformers import (
        AutoConfig,
        AutoModelForSequenceClassification,
        AutoModelForTokenClassification,
    )

    per_token = AutoConfig.from_pretrained(folder).architectures == ["LlamaForTokenClassification"]
    kind = AutoModelForTokenClassification if per_token else AutoModelForSequenceClassification
    model = kind.from_pretrained(folder, dtype=torch.float32)
    with torch.inference_mode():
        return [model.eval()(input_ids=torch.tensor([ids])).logits[0].tolist() for ids in token_ids]

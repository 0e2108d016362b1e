"""Helpers for the tests of multimodal models: rendered prompts and greedy outcomes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import infercore


def media_prompt(processor: Any, kind: str, question: str) -> str:
    """The processor's chat template for one user turn: a ``kind`` part, then ``question``."""
    conversation = [
        {"role": "user", "content": [{"type": kind}, {"type": "text", "text": question}]}
    ]
    prompt: str = processor.apply_chat_template(
        conversation, tokenize=False, add_generation_prompt=True
    )
    return prompt


def outcomes(
    engine: infercore.Engine, requests: list[dict[str, Any]], config: Mapping[str, Any]
) -> list[tuple[str, int]]:
    """Each request's answer text and the prompt tokens the model saw."""
    answers = []
    for response in engine.infer(requests, dict(config)):
        assert isinstance(response, infercore.ChatCompletionResponse)
        assert response.usage is not None
        answers.append((response.choices[0].message.content or "", response.usage.prompt_tokens))
    return answers

"""The requests of bench_load.py: chat prompts of chosen token lengths on the built-in model.

The words and the long-tailed lengths are ``infercore bench serve``'s own
(``infercore._bench_workload``); here they are sized with the model's
tokenizer in this process instead of through a server.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from infercore._bench_workload import (
    OUTPUT_BOUNDS,
    PROMPT_BOUNDS,
    Calibration,
    draw_lengths,
    words,
)

__all__ = ["Mixed", "Sizer", "mixed"]


class Sizer:
    """Chat requests of about so many prompt tokens, as the model's chat template renders them."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        sample = random.Random(0)
        short, long = (len(self.ids(self.chat(words(sample, n)))) for n in (100, 200))
        per_word = (long - short) / 100
        self.calibration = Calibration(per_word=per_word, fixed=short - per_word * 100)

    @staticmethod
    def chat(text: str, system: str | None = None) -> dict[str, Any]:
        head = [{"role": "system", "content": system}] if system else []
        return {"messages": [*head, {"role": "user", "content": text}]}

    def ids(self, request: dict[str, Any]) -> list[int]:
        """The prompt's token ids, as the engine renders and encodes it."""
        text = self.tokenizer.apply_chat_template(
            request["messages"], tokenize=False, add_generation_prompt=True
        )
        ids: list[int] = self.tokenizer.encode(text, add_special_tokens=False)
        return ids

    def request(self, rng: random.Random, tokens: int) -> dict[str, Any]:
        """A request of about ``tokens`` prompt tokens, the chat template's included."""
        return self.chat(words(rng, self.calibration.prompt_words(tokens)))

    def text(self, rng: random.Random, tokens: int) -> str:
        """About ``tokens`` tokens of words, to stand inside a prompt (a system prompt, say)."""
        return words(rng, self.calibration.text_words(tokens))


@dataclass(frozen=True)
class Mixed:
    """Requests of long-tailed lengths: each one's chat request, token ids and output length."""

    requests: list[dict[str, Any]]
    prompts: list[list[int]]
    outputs: list[int]

    @property
    def output_tokens(self) -> int:
        return sum(self.outputs)


def mixed(sizer: Sizer, count: int, input_len: int, output_len: int, seed: int) -> Mixed:
    """``count`` requests whose prompt and output lengths are drawn as bench serve's long-tail."""
    shape = random.Random(seed)
    inputs = draw_lengths("long-tail", input_len, count, PROMPT_BOUNDS, shape)
    outputs = draw_lengths("long-tail", output_len, count, OUTPUT_BOUNDS, shape)
    texts = random.Random(seed + 1)
    requests = [sizer.request(texts, tokens) for tokens in inputs]
    return Mixed(requests, [sizer.ids(r) for r in requests], outputs)

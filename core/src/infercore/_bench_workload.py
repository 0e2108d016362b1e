"""The synthetic workload of ``infercore bench serve``: prompt words, lengths, a shared prefix.

Prompts are random common words, different for every request. Their sizes
come from the server's own tokenizer through a :class:`Calibration`. Lengths
are either fixed or drawn from a seeded long-tailed distribution (``long-tail``,
ShareGPT-like: most requests short, a few long); a shared system prompt may
lead a share of the requests, the same text each time, as an application's
instructions do.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Literal, Protocol

__all__ = [
    "LENGTHS",
    "OUTPUT_BOUNDS",
    "PROMPT_BOUNDS",
    "Calibration",
    "Lengths",
    "Prompt",
    "Workload",
    "build_prompts",
    "draw_lengths",
    "words",
]

Lengths = Literal["fixed", "long-tail"]
LENGTHS: tuple[Lengths, ...] = ("fixed", "long-tail")

#: Where long-tail draws are clipped, in tokens: chat traffic has no empty
#: prompts and few past a couple of thousand tokens, and answers are capped.
PROMPT_BOUNDS = (10, 2000)
OUTPUT_BOUNDS = (1, 500)
# The spread of log-lengths: a median about 0.6 of the mean and one request in
# sixteen past 2.8 times it, the skew of ShareGPT's conversations.
_SIGMA = 1.0

# Common words that most BPE tokenizers keep whole: about one token each.
_WORD_TEXT = (
    "the of and to in is you that it he was for on are as with his they at be this have from "
    "or one had by word but not what all were we when your can said there use an each which "
    "she do how their if will up other about out many then them these so some her would make "
    "like him into time has look two more write go see number no way could people my than "
    "first water been call who oil its now find long down day did get come made may part over "
    "new sound take only little work know place year live me back give most very after thing "
    "our just name good sentence man think say great where help through much before line right "
    "too mean old any same tell boy follow came want show also around form three small set put"
)
_WORDS = tuple(_WORD_TEXT.split())


def words(rng: random.Random, count: int) -> str:
    """``count`` random common words (at least one)."""
    return " ".join(rng.choices(_WORDS, k=max(count, 1)))


def draw_lengths(
    kind: Lengths, mean: int, count: int, bounds: tuple[int, int], rng: random.Random
) -> list[int]:
    """``count`` lengths: ``mean`` each, or long-tailed around ``mean`` within ``bounds``.

    Long-tail draws are lognormal with ``mean`` as their mean before
    clipping, so the clipped mean is a little lower.
    """
    if kind == "fixed":
        return [mean] * count
    mu = math.log(mean) - _SIGMA**2 / 2
    low, high = bounds
    return [min(max(round(rng.lognormvariate(mu, _SIGMA)), low), high) for _ in range(count)]


@dataclass(frozen=True)
class Calibration:
    """A server's prompt tokens for a prompt of so many words: ``fixed + per_word * words``.

    ``fixed`` is what the request costs without words (a chat template's tokens).
    """

    per_word: float
    fixed: float

    def prompt_words(self, tokens: int) -> int:
        """The words of a prompt of about ``tokens`` tokens, the request's fixed cost included."""
        return max(1, round((tokens - self.fixed) / self.per_word))

    def text_words(self, tokens: int) -> int:
        """The words of a text of about ``tokens`` tokens inside a request."""
        return max(1, round(tokens / self.per_word))


@dataclass(frozen=True)
class Prompt:
    """One request's text, its ``max_tokens``, and the shared system prompt when it has it."""

    text: str
    max_tokens: int
    system: str | None = None


class Workload(Protocol):
    """What of a bench run's settings shapes its requests (``BenchConfig`` has them)."""

    @property
    def num_requests(self) -> int: ...
    @property
    def seed(self) -> int: ...
    @property
    def lengths(self) -> Lengths: ...
    @property
    def input_len(self) -> int: ...
    @property
    def output_len(self) -> int: ...
    @property
    def prefix_len(self) -> int: ...
    @property
    def prefix_share(self) -> float: ...


def build_prompts(config: Workload, calibration: Calibration, rng: random.Random) -> list[Prompt]:
    """The run's requests.

    Texts come from ``rng``; the shape (lengths, and which requests carry the
    prefix) from the seed alone, so one seed gives one workload whatever the
    server. With fixed lengths and no prefix, ``rng`` is drawn as it always
    was: a seed names the same prompts from one version to the next.
    """
    count = config.num_requests
    shape = random.Random(config.seed + 2)
    inputs = draw_lengths(config.lengths, config.input_len, count, PROMPT_BOUNDS, shape)
    outputs = draw_lengths(config.lengths, config.output_len, count, OUTPUT_BOUNDS, shape)
    system: str | None = None
    prefixed: set[int] = set()
    if config.prefix_len:
        prefixed = set(shape.sample(range(count), round(config.prefix_share * count)))
        system = words(rng, calibration.text_words(config.prefix_len))
    return [
        Prompt(
            words(rng, calibration.prompt_words(inputs[i])),
            outputs[i],
            system if i in prefixed else None,
        )
        for i in range(count)
    ]

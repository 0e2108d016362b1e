"""Per answer: tokens, time to first token and tokens/s."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from infercore._stats import InferStats

__all__ = ["AnswerClock"]


@dataclass
class AnswerClock:
    """Times one answer; the token counts are the engine's (its usage, through ``stats``).

    Start it when the request goes out, :meth:`first` at the first text, and
    :meth:`finish` once the stream has ended and ``stats`` has counted it.
    """

    stats: InferStats = field(default_factory=InferStats)
    _start: float = field(default_factory=time.perf_counter)
    _first: float | None = None
    finished: bool = False

    def first(self) -> None:
        if self._first is None:
            self._first = time.perf_counter()

    def finish(self) -> None:
        self.finished = True

    @property
    def ttft(self) -> float | None:
        return None if self._first is None else self._first - self._start

    def summary(self) -> str:
        """One line for the page: ``Answering…`` until finished, then the figures, such as
        ``24 tokens · first token 0.21 s · 48.3 tokens/s``."""
        if not self.finished:
            return "Answering…"
        figures = self.stats.compute()
        ttft = "" if self.ttft is None else f" · first token {self.ttft:.2f} s"
        return (
            f"{figures['num_generated_tokens']:.0f} tokens{ttft} · "
            f"{figures['tokens/s']:.1f} tokens/s"
        )

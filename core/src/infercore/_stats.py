"""Counting what inference produced, and the rates that follow."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from infercore._types import Usage

__all__ = ["InferStats"]


@dataclass
class InferStats:
    """Tokens and samples of every response it is given, over wall-clock time.

    Pass one to ``Engine.infer(..., stats=...)`` or ``InferClient.infer``;
    the clock runs from creation (or :meth:`reset`) to the last response.
    """

    prompt_tokens: int = 0
    generated_tokens: int = 0
    samples: int = 0
    requests: int = 0
    _start: float = field(default_factory=time.perf_counter, repr=False)
    _last: float | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, usage: Usage, samples: int) -> None:
        """Count one response with ``samples`` choices."""
        with self._lock:
            self.prompt_tokens += usage.prompt_tokens
            self.generated_tokens += usage.completion_tokens
            self.samples += samples
            self.requests += 1
            self._last = time.perf_counter()

    def reset(self) -> None:
        with self._lock:
            self.prompt_tokens = self.generated_tokens = self.samples = self.requests = 0
            self._start = time.perf_counter()
            self._last = None

    @property
    def runtime(self) -> float:
        """Seconds from the start to the last response counted."""
        return 0.0 if self._last is None else self._last - self._start

    def compute(self) -> dict[str, float]:
        runtime = self.runtime
        return {
            "num_prompt_tokens": self.prompt_tokens,
            "num_generated_tokens": self.generated_tokens,
            "num_samples": self.samples,
            "num_requests": self.requests,
            "runtime": runtime,
            "samples/s": self.samples / runtime if runtime else 0.0,
            "tokens/s": self.generated_tokens / runtime if runtime else 0.0,
        }

"""What a job did: rows answered, failed and found done, tokens, time, the label metric."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["JobSummary"]


@dataclass(frozen=True)
class JobSummary:
    """The end of one run of a dataset or batch job.

    ``rows`` is every row the job covers: ``answered`` and ``failed`` in this
    run, and ``resumed``, found in the result file from an earlier run. Tokens
    and time are this run's. ``metric`` scores every answered row of the result
    file against its labels, where a metric was asked for.
    """

    result_path: Path
    rows: int
    answered: int
    failed: int
    resumed: int
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    metric: Mapping[str, float | int] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        return (self.answered + self.failed) / self.seconds if self.seconds > 0 else 0.0

    @property
    def tokens_per_second(self) -> float:
        """Generated tokens per second."""
        return self.completion_tokens / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        lines = [
            f"results: {self.result_path}",
            f"rows: {self.rows} ({self.answered} answered, {self.failed} failed, "
            f"{self.resumed} done before)",
            f"tokens: {self.prompt_tokens} prompt, {self.completion_tokens} generated",
            f"time: {self.seconds:.1f} s, {self.rows_per_second:.2f} rows/s, "
            f"{self.tokens_per_second:.1f} tokens/s",
        ]
        if self.metric:
            scores = ", ".join(
                f"{name} {value:.4f}" if isinstance(value, float) else f"{name} {value}"
                for name, value in self.metric.items()
            )
            lines.append(f"metric: {scores}")
        return "\n".join(lines)

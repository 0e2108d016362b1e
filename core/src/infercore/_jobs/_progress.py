"""A job's progress on stderr: a tqdm bar on a terminal, a plain line now and then elsewhere."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

__all__ = ["Progress"]


class Progress:
    """Rows done (and failed) out of ``total``, with rows/s and generated tokens/s.

    ``enabled=None`` shows it where stderr is a terminal (a bar) or a file
    (a line every ``interval`` seconds, which a log keeps readable); ``False``
    shows nothing.
    """

    def __init__(
        self,
        total: int | None,
        *,
        enabled: bool | None = None,
        stream: TextIO | None = None,
        interval: float = 10.0,
        what: str = "rows",
    ) -> None:
        self._stream = stream if stream is not None else sys.stderr
        self._total = total
        self._interval = interval
        self._what = what
        self._done = 0
        self._failed = 0
        self._tokens = 0
        self._started = time.monotonic()
        self._printed_at = self._started
        self._enabled = enabled is not False
        self._bar: Any = None
        if self._enabled and self._stream.isatty():
            from tqdm import tqdm

            self._bar = tqdm(
                total=total,
                unit=what[:-1] if what.endswith("s") else what,
                file=self._stream,
                dynamic_ncols=True,
            )

    def advance(self, *, failed: bool = False, tokens: int = 0) -> None:
        self._done += 1
        self._failed += failed
        self._tokens += tokens
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix(
                failed=self._failed, tok_s=f"{self._rate(self._tokens):.0f}", refresh=False
            )
        elif self._enabled and time.monotonic() - self._printed_at >= self._interval:
            self._print()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        elif self._enabled and self._done:
            self._print()
        self._enabled = False

    def _rate(self, count: int) -> float:
        return count / max(time.monotonic() - self._started, 1e-9)

    def _print(self) -> None:
        self._printed_at = time.monotonic()
        total = f"/{self._total}" if self._total is not None else ""
        print(
            f"{self._what} {self._done}{total} ({self._failed} failed), "
            f"{self._rate(self._done):.1f} {self._what}/s, {self._rate(self._tokens):.0f} tokens/s",
            file=self._stream,
            flush=True,
        )

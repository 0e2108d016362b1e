"""The figures of ``infercore bench serve``, defined as vLLM's ``bench serve`` defines them.

Per request, measured on the client: TTFT (send to first content), ITL (the
gaps between later content chunks), TPOT (``(latency - ttft) / (output
tokens - 1)``, so the first token's wait is left out) and end-to-end latency.
Over the run: each of those as mean, median, p90, p99 (and std in the JSON),
requests/s, output tokens/s and total tokens/s over the run's wall time, and,
given targets for some of TTFT, TPOT and E2EL, goodput: the requests/s that
met every target (a one-token answer's TPOT counts as 0, as in vLLM).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "GOODPUT_METRICS",
    "RequestResult",
    "format_table",
    "parse_goodput",
    "percentile",
    "summarize",
]

#: The figures a goodput target may bound, per request, in milliseconds.
GOODPUT_METRICS = ("ttft", "tpot", "e2el")

_PERCENTILES = (50, 90, 99)
# The per-request series of the JSON; also the order of the table's sections.
_SERIES = (
    ("ttft", "Time to First Token", "TTFT"),
    ("tpot", "Time per Output Token (excl. 1st token)", "TPOT"),
    ("itl", "Inter-token Latency", "ITL"),
    ("e2el", "End-to-end Latency", "E2EL"),
)


@dataclass
class RequestResult:
    """What one request did; times in seconds. ``ttft`` is None when not streamed."""

    ok: bool = False
    prompt_tokens: int = 0
    output_tokens: int = 0
    ttft: float | None = None
    itls: list[float] = field(default_factory=list)
    latency: float = 0.0
    error: str = ""


def parse_goodput(pairs: Iterable[str]) -> dict[str, float]:
    """Goodput targets from ``KEY:MS`` pairs, as vLLM's ``--goodput`` takes them.

    Raises ValueError, naming the pair, for an unknown key or a value that is
    not a number of milliseconds >= 0.
    """
    targets: dict[str, float] = {}
    for pair in pairs:
        key, sep, raw = pair.partition(":")
        if not sep or key not in GOODPUT_METRICS:
            raise ValueError(
                f"invalid goodput target {pair!r}: expected KEY:MS, KEY one of "
                f"{', '.join(GOODPUT_METRICS)}"
            )
        try:
            value = float(raw)
        except ValueError:
            value = math.nan  # refused below, as a negative or infinite value is
        if not 0 <= value < math.inf:
            raise ValueError(f"invalid goodput target {pair!r}: MS must be a number >= 0")
        targets[key] = value
    return targets


def _tpot(result: RequestResult) -> float | None:
    """Seconds per output token after the first (0 for a one-token answer); None unstreamed."""
    if result.ttft is None:
        return None
    if result.output_tokens <= 1:
        return 0.0
    return (result.latency - result.ttft) / (result.output_tokens - 1)


def _meets(result: RequestResult, targets: Mapping[str, float]) -> bool:
    values = {"ttft": result.ttft, "tpot": _tpot(result), "e2el": result.latency}
    for key, limit_ms in targets.items():
        value = values[key]
        if value is None or value * 1000 > limit_ms:
            return False
    return True


def percentile(ordered: list[float], q: float) -> float:
    """The ``q``-th percentile of sorted values, interpolated linearly (numpy's default)."""
    if not ordered:
        return math.nan
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _describe(prefix: str, values_s: list[float]) -> dict[str, float | None]:
    """mean, median, std and percentiles of ``values_s``, in milliseconds."""
    if not values_s:
        names = ["mean", "median", "std", *(f"p{p}" for p in _PERCENTILES)]
        return {f"{name}_{prefix}_ms": None for name in names}
    ordered = sorted(v * 1000 for v in values_s)
    figures: dict[str, float | None] = {
        f"mean_{prefix}_ms": statistics.fmean(ordered),
        f"median_{prefix}_ms": percentile(ordered, 50),
        f"std_{prefix}_ms": statistics.pstdev(ordered),
    }
    for p in _PERCENTILES:
        figures[f"p{p}_{prefix}_ms"] = percentile(ordered, p)
    return figures


def summarize(
    results: list[RequestResult], duration: float, goodput: Mapping[str, float] | None = None
) -> dict[str, Any]:
    """Every figure of a run whose requests took ``duration`` seconds of wall time.

    ``request_goodput`` is None when no ``goodput`` targets are given.
    """
    done = [r for r in results if r.ok]
    input_tokens = sum(r.prompt_tokens for r in done)
    output_tokens = sum(r.output_tokens for r in done)
    ttfts = [r.ttft for r in done if r.ttft is not None]
    tpots = [t for r in done if r.output_tokens > 1 and (t := _tpot(r)) is not None]
    itls = [gap for r in done for gap in r.itls]
    errors = [r.error for r in results if not r.ok]
    good = sum(_meets(r, goodput) for r in done) if goodput else None
    figures: dict[str, Any] = {
        "duration": duration,
        "completed": len(done),
        "failed": len(errors),
        "first_errors": list(dict.fromkeys(errors))[:5],
        "total_input_tokens": input_tokens,
        "total_output_tokens": output_tokens,
        "request_throughput": len(done) / duration if duration else 0.0,
        "request_goodput": None if good is None else good / duration if duration else 0.0,
        "output_throughput": output_tokens / duration if duration else 0.0,
        "total_token_throughput": (input_tokens + output_tokens) / duration if duration else 0.0,
    }
    figures.update(_describe("ttft", ttfts))
    figures.update(_describe("tpot", tpots))
    figures.update(_describe("itl", itls))
    figures.update(_describe("e2el", [r.latency for r in done]))
    figures.update(
        input_lens=[r.prompt_tokens for r in results],
        output_lens=[r.output_tokens for r in results],
        ttfts=[r.ttft for r in results],
        itls=[r.itls for r in results],
        e2els=[r.latency for r in results],
        errors=[r.error for r in results],
    )
    return figures


def _line(label: str, value: object, digits: int = 2) -> str:
    if isinstance(value, float):
        shown = "inf" if math.isinf(value) else f"{value:.{digits}f}"
    else:
        shown = "n/a" if value is None else str(value)
    return f"{label:<40} {shown:<10}"


def format_table(figures: dict[str, Any]) -> str:
    """The result table, laid out as vLLM's ``bench serve`` prints it."""
    lines = [
        "{s:{c}^{n}}".format(s=" Serving Benchmark Result ", n=50, c="="),
        _line("Successful requests:", figures["completed"]),
        _line("Failed requests:", figures["failed"]),
        _line("Maximum request concurrency:", figures["concurrency"]),
        _line("Request rate configured (RPS):", float(figures["request_rate"])),
        _line("Benchmark duration (s):", figures["duration"]),
        _line("Total input tokens:", figures["total_input_tokens"]),
        _line("Total generated tokens:", figures["total_output_tokens"]),
        _line("Request throughput (req/s):", figures["request_throughput"]),
    ]
    if figures["request_goodput"] is not None:  # vLLM's line, where targets were given
        lines.append(_line("Request goodput (req/s):", figures["request_goodput"]))
    lines += [
        _line("Output token throughput (tok/s):", figures["output_throughput"]),
        _line("Total token throughput (tok/s):", figures["total_token_throughput"]),
    ]
    for key, title, short in _SERIES:
        if figures[f"mean_{key}_ms"] is None:
            continue  # TTFT, TPOT and ITL need a stream
        lines.append("{s:{c}^{n}}".format(s=title, n=50, c="-"))
        lines.append(_line(f"Mean {short} (ms):", figures[f"mean_{key}_ms"]))
        lines.append(_line(f"Median {short} (ms):", figures[f"median_{key}_ms"]))
        for p in _PERCENTILES[1:]:
            lines.append(_line(f"P{p} {short} (ms):", figures[f"p{p}_{key}_ms"]))
    lines.append("=" * 50)
    if figures["first_errors"]:
        lines.append("First errors:")
        lines.extend(f"  {error}" for error in figures["first_errors"])
    return "\n".join(lines)

"""Server metrics in the Prometheus text format (version 0.0.4), written by hand.

Counting is a few integer additions per request; the text is built only when
``GET /metrics`` is scraped. Names follow vLLM's where one exists, with the
``infercore_`` prefix:

- ``infercore_requests_total{route, status}``: responses by route and status
  (``499``: the client went away before its answer was complete)
- ``infercore_prompt_tokens_total``, ``infercore_generation_tokens_total``
- ``infercore_time_to_first_token_seconds`` (streamed requests) and
  ``infercore_e2e_request_latency_seconds`` (every generation), histograms
- ``infercore_requests_running``, ``infercore_requests_waiting``: the
  server's generation slots in use and the requests queued for one
- ``infercore_backend_active_requests``: what the backend itself holds
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Sequence

from infercore._types import Usage

__all__ = ["CONTENT_TYPE", "Histogram", "ServerMetrics"]

CONTENT_TYPE = b"text/plain; version=0.0.4; charset=utf-8"

_TTFT_BUCKETS = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75,
    1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0,
)  # fmt: skip
_E2E_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    15.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0,
)  # fmt: skip


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return repr(float(value)) if isinstance(value, float) else str(value)


class Histogram:
    """A Prometheus histogram: counts per upper bound (inclusive), a sum and a count."""

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self._counts = [0] * (len(self.bounds) + 1)  # the last one is +Inf only
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self._counts[bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1

    def render(self, name: str, labels: str) -> list[str]:
        lines = []
        cumulative = 0
        for bound, count in zip(self.bounds, self._counts, strict=False):
            cumulative += count
            lines.append(f'{name}_bucket{{{labels},le="{bound}"}} {cumulative}')
        lines.append(f'{name}_bucket{{{labels},le="+Inf"}} {self.count}')
        lines.append(f"{name}_sum{{{labels}}} {_number(self.sum)}")
        lines.append(f"{name}_count{{{labels}}} {self.count}")
        return lines


class ServerMetrics:
    """Everything ``/metrics`` reports for one served model.

    The gauges are read when scraped, from the callables given here, so
    nothing has to be kept in step on the request path.
    """

    def __init__(
        self,
        model_name: str,
        *,
        running: Callable[[], int],
        waiting: Callable[[], int],
        backend_active: Callable[[], int],
    ) -> None:
        self._labels = f'model_name="{_escape(model_name)}"'
        self._running = running
        self._waiting = waiting
        self._backend_active = backend_active
        self.responses: dict[tuple[str, int], int] = {}
        self.prompt_tokens = 0
        self.generation_tokens = 0
        self.ttft = Histogram(_TTFT_BUCKETS)
        self.e2e = Histogram(_E2E_BUCKETS)

    def count_response(self, route: str, status: int) -> None:
        key = (route, status)
        self.responses[key] = self.responses.get(key, 0) + 1

    def count_usage(self, usage: Usage) -> None:
        self.prompt_tokens += usage.prompt_tokens
        self.generation_tokens += usage.completion_tokens

    def render(self) -> bytes:
        labels = self._labels
        lines = [
            "# HELP infercore_requests_total Responses sent, by route and HTTP status.",
            "# TYPE infercore_requests_total counter",
        ]
        for (route, status), count in sorted(self.responses.items()):
            lines.append(
                f'infercore_requests_total{{{labels},route="{_escape(route)}",'
                f'status="{status}"}} {count}'
            )
        for name, help_text, kind, value in (
            ("prompt_tokens_total", "Prompt tokens of finished requests.", "counter",
             self.prompt_tokens),
            ("generation_tokens_total", "Tokens generated for finished requests.", "counter",
             self.generation_tokens),
            ("requests_running", "Requests holding a generation slot.", "gauge", self._running()),
            ("requests_waiting", "Requests queued for a generation slot.", "gauge",
             self._waiting()),
            ("backend_active_requests", "Requests the backend holds, running or waiting.",
             "gauge", self._backend_active()),
        ):  # fmt: skip
            lines.append(f"# HELP infercore_{name} {help_text}")
            lines.append(f"# TYPE infercore_{name} {kind}")
            lines.append(f"infercore_{name}{{{labels}}} {value}")
        for name, help_text, histogram in (
            ("time_to_first_token_seconds", "Time to the first token, of streamed requests.",
             self.ttft),
            ("e2e_request_latency_seconds", "Time from arrival to the last token.", self.e2e),
        ):  # fmt: skip
            lines.append(f"# HELP infercore_{name} {help_text}")
            lines.append(f"# TYPE infercore_{name} histogram")
            lines.extend(histogram.render(f"infercore_{name}", labels))
        lines.append("")
        return "\n".join(lines).encode()

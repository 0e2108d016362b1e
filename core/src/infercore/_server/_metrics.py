"""Server metrics in the Prometheus text format, through ``prometheus-client``.

Names follow vLLM's where one exists, with the ``infercore_`` prefix (the
mapping is in docs/server.md), each series labelled ``model_name``:

- ``infercore_requests_total{route, status}``: responses by route and status
  (``499``: the client went away before its answer was complete)
- ``infercore_prompt_tokens_total``, ``infercore_generation_tokens_total``
- ``infercore_time_to_first_token_seconds`` (streamed requests) and
  ``infercore_e2e_request_latency_seconds`` (every generation), histograms
- ``infercore_requests_running``, ``infercore_requests_waiting``: the
  server's generation slots in use and the requests queued for one
- ``infercore_backend_active_requests``: what the backend itself holds

Each server has a registry of its own, so that several apps (and tests) can
live in one process. On the request path counting is a lookup of an
already-labelled child and an increment; the gauges are read when
``/metrics`` is scraped, and the text is built only then.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from infercore._types import Usage

__all__ = ["CONTENT_TYPE", "ServerMetrics"]

CONTENT_TYPE = CONTENT_TYPE_LATEST.encode()

_TTFT_BUCKETS = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75,
    1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0,
)  # fmt: skip
_E2E_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    15.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0,
)  # fmt: skip


class ServerMetrics:
    """Everything ``/metrics`` reports for one served model, in a registry of its own.

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
        self.registry = CollectorRegistry()
        self._model_name = model_name
        labels = ["model_name"]
        self._requests = Counter(
            "infercore_requests_total",
            "Responses sent, by route and HTTP status.",
            [*labels, "route", "status"],
            registry=self.registry,
        )
        # Labelled once each: labels() takes a lock and checks its arguments every call.
        self._responses: dict[tuple[str, int], Counter] = {}
        self._prompt_tokens = Counter(
            "infercore_prompt_tokens_total",
            "Prompt tokens of finished requests.",
            labels,
            registry=self.registry,
        ).labels(model_name)
        self._generation_tokens = Counter(
            "infercore_generation_tokens_total",
            "Tokens generated for finished requests.",
            labels,
            registry=self.registry,
        ).labels(model_name)
        self.ttft = Histogram(
            "infercore_time_to_first_token_seconds",
            "Time to the first token, of streamed requests.",
            labels,
            registry=self.registry,
            buckets=_TTFT_BUCKETS,
        ).labels(model_name)
        self.e2e = Histogram(
            "infercore_e2e_request_latency_seconds",
            "Time from arrival to the last token.",
            labels,
            registry=self.registry,
            buckets=_E2E_BUCKETS,
        ).labels(model_name)
        for name, help_text, read in (
            ("infercore_requests_running", "Requests holding a generation slot.", running),
            ("infercore_requests_waiting", "Requests queued for a generation slot.", waiting),
            ("infercore_backend_active_requests",
             "Requests the backend holds, running or waiting.", backend_active),
        ):  # fmt: skip
            gauge = Gauge(name, help_text, labels, registry=self.registry)
            gauge.labels(model_name).set_function(read)

    def count_response(self, route: str, status: int) -> None:
        child = self._responses.get((route, status))
        if child is None:
            child = self._requests.labels(self._model_name, route, str(status))
            self._responses[route, status] = child
        child.inc()

    def count_usage(self, usage: Usage) -> None:
        self._prompt_tokens.inc(usage.prompt_tokens)
        self._generation_tokens.inc(usage.completion_tokens)

    def render(self) -> bytes:
        return generate_latest(self.registry)

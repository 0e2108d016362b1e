"""``infercore bench serve`` against the real server on the echo backend.

At ``token_rate=100`` the echo backend sends a token every 10 ms, so a
sound measurement shows a TPOT and a median ITL of about 10 ms.
"""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infercore._bench_metrics import RequestResult, percentile, summarize
from infercore.testing import INFERCORE_COMMAND, deployed, server_env

MODEL = "bench-echo"
KEY = "sk-bench"
OUTPUT_LEN = 20


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    pytest.importorskip("aiohttp", reason="bench serve needs the bench extra")
    args = ["--model", MODEL, "--backend", "echo", "--api-key", KEY, "-O", "token_rate=100"]
    with deployed(*args) as url:
        yield url


def bench(base_url: str, *args: str, key: str = KEY) -> subprocess.CompletedProcess[str]:
    argv = [*INFERCORE_COMMAND, "bench", "serve", "--base-url", base_url, "--api-key", key, *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, env=server_env())


def run_json(base_url: str, tmp_path: Path, *args: str) -> tuple[str, dict[str, Any]]:
    path = tmp_path / "result.json"
    result = bench(base_url, *args, "--result-json", str(path))
    assert result.returncode == 0, result.stderr + result.stdout
    return result.stdout, json.loads(path.read_text())


def test_streamed_figures_match_the_echo_backends_token_rate(base_url: str, tmp_path: Path) -> None:
    out, figures = run_json(
        base_url, tmp_path,
        "--model", MODEL, "--concurrency", "4", "--num-requests", "12",
        "--input-len", "16", "--output-len", str(OUTPUT_LEN),
    )  # fmt: skip
    assert "Serving Benchmark Result" in out
    assert "Median TPOT (ms):" in out
    assert "P99 ITL (ms):" in out
    assert (figures["completed"], figures["failed"]) == (12, 0)
    assert figures["output_lens"] == [OUTPUT_LEN] * 12
    assert figures["total_output_tokens"] == 12 * OUTPUT_LEN
    # 10 ms a token; the server and a busy 2-core machine add a little.
    assert 9.0 <= figures["mean_tpot_ms"] <= 14.0, figures["mean_tpot_ms"]
    assert 9.0 <= figures["median_itl_ms"] <= 14.0, figures["median_itl_ms"]
    assert figures["median_ttft_ms"] < 50.0
    # 19 gaps after the first token.
    assert 190.0 <= figures["median_e2el_ms"] <= 300.0
    assert all(len(gaps) == OUTPUT_LEN - 1 for gaps in figures["itls"])
    # 4 streams, each 20 tokens in at least 190 ms (the first token comes at once, then
    # 19 gaps of 10 ms): at most 4 * 20 / 0.19 = 421 tokens/s.
    assert 200.0 <= figures["output_throughput"] <= 4 * OUTPUT_LEN / 0.19
    assert figures["request_throughput"] == pytest.approx(12 / figures["duration"])
    # Prompts sized to about --input-len tokens of the server's tokenizer (bytes, for echo).
    median_input = sorted(figures["input_lens"])[6]
    assert 12 <= median_input <= 24, figures["input_lens"]
    for key in ("p90_ttft_ms", "p99_tpot_ms", "std_itl_ms", "p50_e2el_ms", "duration"):
        assert math.isfinite(figures[key])


def test_non_streamed_run_reports_latency_and_throughput_only(
    base_url: str, tmp_path: Path
) -> None:
    out, figures = run_json(
        base_url, tmp_path,
        "--concurrency", "8", "--num-requests", "16", "--output-len", "5", "--no-stream",
    )  # fmt: skip
    assert figures["model"] == MODEL  # the first the server lists
    assert (figures["completed"], figures["failed"]) == (16, 0)
    assert figures["total_output_tokens"] == 16 * 5
    assert figures["mean_ttft_ms"] is None
    assert "TTFT" not in out
    assert "Median E2EL (ms):" in out
    assert figures["median_e2el_ms"] >= 40.0  # 4 gaps of 10 ms


def test_the_completions_endpoint_is_measured_too(base_url: str, tmp_path: Path) -> None:
    _, figures = run_json(
        base_url, tmp_path,
        "--endpoint", "completions", "--concurrency", "2", "--num-requests", "4",
        "--input-len", "8", "--output-len", "6",
    )  # fmt: skip
    assert (figures["completed"], figures["failed"]) == (4, 0)
    assert figures["output_lens"] == [6] * 4
    assert figures["endpoint"] == "completions"


def test_poisson_arrivals_spread_the_requests_over_time(base_url: str, tmp_path: Path) -> None:
    rate, count, seed = 20.0, 8, 3
    _, figures = run_json(
        base_url, tmp_path,
        "--request-rate", str(rate), "--num-requests", str(count), "--concurrency", "8",
        "--output-len", "2", "--seed", str(seed),
    )  # fmt: skip
    # The arrival gaps the command draws from its seed: the run lasts at least their sum.
    gaps = random.Random(seed + 1)
    arrivals = sum(gaps.expovariate(rate) for _ in range(count - 1))
    assert figures["duration"] >= arrivals
    assert figures["completed"] == count


def test_a_wrong_key_stops_the_run_with_a_clear_error(base_url: str) -> None:
    result = bench(base_url, "--num-requests", "2", key="wrong")
    assert result.returncode == 2
    assert "refused the API key" in result.stderr


def test_an_unknown_model_stops_the_run_with_a_clear_error(base_url: str) -> None:
    result = bench(base_url, "--model", "nope", "--num-requests", "2")
    assert result.returncode == 2
    assert "nope" in result.stderr


def test_without_aiohttp_the_command_says_how_to_install_it() -> None:
    code = (
        "import sys; sys.modules['aiohttp'] = None\n"
        "from infercore._cli import main\n"
        "sys.exit(main(['bench', 'serve', '--base-url', 'http://127.0.0.1:9']))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=server_env()
    )
    assert result.returncode == 2
    assert "pip install 'infercore[bench]'" in result.stderr


# -- the figures' definitions, on known numbers ----------------------------------


def test_percentiles_interpolate_as_numpy_does() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 10.0]
    assert percentile(values, 50) == 3.0
    assert percentile(values, 90) == pytest.approx(7.6)
    assert percentile(values, 99) == pytest.approx(9.76)
    assert math.isnan(percentile([], 50))


def test_tpot_leaves_out_the_first_token_and_failures_are_counted() -> None:
    results = [
        RequestResult(ok=True, prompt_tokens=5, output_tokens=11, ttft=0.1, latency=1.1,
                      itls=[0.1] * 10),
        RequestResult(ok=True, prompt_tokens=5, output_tokens=3, ttft=0.2, latency=0.6,
                      itls=[0.2, 0.2]),
        RequestResult(error="HTTP 500: boom"),
        RequestResult(error="HTTP 500: boom"),
    ]  # fmt: skip
    figures = summarize(results, duration=2.0)
    assert (figures["completed"], figures["failed"]) == (2, 2)
    assert figures["first_errors"] == ["HTTP 500: boom"]
    # (1.1 - 0.1) / 10 and (0.6 - 0.2) / 2.
    assert figures["mean_tpot_ms"] == pytest.approx(150.0)
    assert figures["median_itl_ms"] == pytest.approx(100.0)
    assert figures["request_throughput"] == 1.0
    assert figures["output_throughput"] == 7.0
    assert figures["total_token_throughput"] == 12.0

"""``infercore bench serve`` against the real server on the echo backend.

At ``token_rate=100`` the echo backend sends a token every 10 ms, so a
sound measurement shows a TPOT and a median ITL of about 10 ms.
"""

from __future__ import annotations

import json
import math
import random
import statistics
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from infercore._bench import BenchConfig
from infercore._bench_metrics import RequestResult, format_table, percentile, summarize
from infercore._bench_workload import (
    OUTPUT_BOUNDS,
    PROMPT_BOUNDS,
    Calibration,
    build_prompts,
    draw_lengths,
)
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


def long_tail(base_url: str, tmp_path: Path, seed: int) -> dict[str, Any]:
    _, figures = run_json(
        base_url, tmp_path,
        "--lengths", "long-tail", "--input-len", "100", "--output-len", "6",
        "--num-requests", "24", "--concurrency", "24", "--seed", str(seed),
    )  # fmt: skip
    assert (figures["completed"], figures["lengths"]) == (24, "long-tail")
    return figures


def test_long_tail_lengths_vary_and_one_seed_gives_one_workload(
    base_url: str, tmp_path: Path
) -> None:
    figures = long_tail(base_url, tmp_path, seed=5)
    inputs, outputs = figures["input_lens"], figures["output_lens"]
    # Drawn long-tailed: a wide spread of prompt sizes (bytes, for echo) and answer lengths.
    assert max(inputs) >= 4 * min(inputs), inputs
    assert len(set(outputs)) >= 5, outputs
    # With ignore_eos each answer is as long as its drawn max_tokens: the seed's draws.
    shape = random.Random(5 + 2)
    drawn_inputs = draw_lengths("long-tail", 100, 24, PROMPT_BOUNDS, shape)
    assert outputs == draw_lengths("long-tail", 6, 24, OUTPUT_BOUNDS, shape)
    # Each prompt is about its drawn size; the smallest cannot go below the chat
    # template's own tokens and one word.
    for drawn, measured in zip(drawn_inputs, inputs, strict=True):
        if drawn >= 60:
            assert abs(measured - drawn) <= 0.25 * drawn, (drawn, measured)
    again = long_tail(base_url, tmp_path, seed=5)
    assert (again["input_lens"], again["output_lens"]) == (inputs, outputs)
    other = long_tail(base_url, tmp_path, seed=6)
    assert other["input_lens"] != inputs
    assert other["output_lens"] != outputs


def test_fixed_lengths_stay_the_default(base_url: str, tmp_path: Path) -> None:
    _, figures = run_json(
        base_url, tmp_path, "--num-requests", "6", "--input-len", "40", "--output-len", "3"
    )
    assert figures["lengths"] == "fixed"
    assert figures["output_lens"] == [3] * 6
    assert max(figures["input_lens"]) - min(figures["input_lens"]) <= 15


@pytest.mark.parametrize("endpoint", ["chat", "completions"])
def test_a_shared_prefix_leads_its_share_of_the_requests(
    base_url: str, tmp_path: Path, endpoint: str
) -> None:
    prefix = 200
    _, figures = run_json(
        base_url, tmp_path, "--endpoint", endpoint,
        "--prefix-len", str(prefix), "--prefix-share", "0.5", "--num-requests", "10",
        "--concurrency", "10", "--input-len", "30", "--output-len", "2",
    )  # fmt: skip
    assert (figures["prefix_len"], figures["prefix_share"]) == (prefix, 0.5)
    inputs = sorted(figures["input_lens"])
    plain, prefixed = inputs[:5], inputs[5:]
    # Half the prompts are longer by about the prefix's 200 tokens (bytes, for echo;
    # a chat system message adds its template's 10), the rest as without one.
    assert max(plain) - min(plain) <= 20, inputs
    assert max(prefixed) - min(prefixed) <= 20, inputs
    added = statistics.median(prefixed) - statistics.median(plain)
    assert 0.85 * prefix <= added <= 1.2 * prefix, inputs


def test_the_prefix_is_one_text_sized_by_the_calibration() -> None:
    calibration = Calibration(per_word=2.0, fixed=20.0)
    config = BenchConfig("http://unused", num_requests=8, input_len=60, output_len=7,
                         prefix_len=100, prefix_share=0.75)  # fmt: skip
    prompts = build_prompts(config, calibration, random.Random(0))
    systems = [p.system for p in prompts if p.system is not None]
    assert len(systems) == 6
    assert len(set(systems)) == 1
    assert len(systems[0].split()) == 50  # 100 tokens at 2 a word
    assert all(len(p.text.split()) == 20 for p in prompts)  # (60 - 20) / 2
    assert len({p.text for p in prompts}) == 8
    assert {p.max_tokens for p in prompts} == {7}
    every = build_prompts(replace(config, prefix_share=1.0), calibration, random.Random(0))
    assert all(p.system == systems[0] for p in every)


@pytest.mark.parametrize(
    ("targets", "all_met"),
    [(["ttft:10000", "tpot:1000"], True), (["tpot:1"], False), (["e2el:1000", "ttft:0"], False)],
)
def test_goodput_counts_the_requests_that_met_every_target(
    base_url: str, tmp_path: Path, targets: list[str], all_met: bool
) -> None:
    out, figures = run_json(
        base_url, tmp_path,
        "--num-requests", "8", "--concurrency", "8", "--output-len", "5", "--goodput", *targets,
    )  # fmt: skip
    assert "Request goodput (req/s):" in out
    assert figures["completed"] == 8
    # Every TPOT is about 10 ms, every TTFT above 0 ms and every latency well under 1 s.
    expected = figures["request_throughput"] if all_met else 0.0
    assert figures["request_goodput"] == pytest.approx(expected)


def test_without_targets_there_is_no_goodput(base_url: str, tmp_path: Path) -> None:
    out, figures = run_json(base_url, tmp_path, "--num-requests", "2", "--output-len", "2")
    assert figures["request_goodput"] is None
    assert "goodput" not in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--goodput", "itl:5"], "KEY one of ttft, tpot, e2el"),
        (["--goodput", "ttft:-1"], "MS must be a number >= 0"),
        (["--goodput", "ttft"], "expected KEY:MS"),
        (["--no-stream", "--goodput", "tpot:50"], "need a stream"),
        (["--prefix-share", "0.5"], "--prefix-share needs --prefix-len"),
        (["--prefix-len", "10", "--prefix-share", "1.5"], "within 0..1"),
        (["--lengths", "uniform"], "invalid choice"),
    ],
)
def test_bad_workload_flags_are_refused(base_url: str, args: list[str], message: str) -> None:
    result = bench(base_url, "--num-requests", "2", *args)
    assert result.returncode == 2
    assert message in result.stderr


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


def test_goodput_holds_each_request_to_every_target() -> None:
    results = [
        # TTFT 100 ms, TPOT (1.1 - 0.1) / 10 = 100 ms, E2EL 1100 ms.
        RequestResult(ok=True, output_tokens=11, ttft=0.1, latency=1.1),
        # TTFT 300 ms, one token: its TPOT counts as 0, as in vLLM.
        RequestResult(ok=True, output_tokens=1, ttft=0.3, latency=0.3),
        RequestResult(error="HTTP 500: boom"),
    ]

    def goodput(**targets: float) -> float:
        return float(summarize(results, 2.0, targets)["request_goodput"])

    assert goodput(ttft=100.0) == 0.5
    assert goodput(ttft=300.0) == 1.0
    assert goodput(tpot=99.0) == 0.5
    assert goodput(ttft=300.0, tpot=100.0) == 1.0
    assert goodput(ttft=300.0, e2el=1000.0) == 0.5
    assert goodput(ttft=50.0) == 0.0
    unstreamed = summarize(
        [RequestResult(ok=True, output_tokens=3, latency=0.1)], 1.0, {"ttft": 9e9}
    )
    assert unstreamed["request_goodput"] == 0.0
    figures = summarize(results, 2.0, {"tpot": 99.0})
    table = format_table({**figures, "concurrency": 1, "request_rate": math.inf})
    assert "Request goodput (req/s):                 0.50" in table

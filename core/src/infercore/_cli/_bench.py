"""``infercore bench serve``: the command over :mod:`infercore._bench`."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from infercore._bench import DESCRIPTION, BenchConfig, run_bench
from infercore._bench_metrics import format_table
from infercore._cli._flags import positive_int
from infercore._command import Command

__all__ = ["BENCH"]


def _rate(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("the request rate must be > 0 (inf: all at once)")
    return value


def _serve(args: argparse.Namespace) -> int:
    config = BenchConfig(
        base_url=args.base_url,
        model=args.model,
        concurrency=args.concurrency,
        num_requests=args.num_requests,
        input_len=args.input_len,
        output_len=args.output_len,
        request_rate=args.request_rate,
        endpoint=args.endpoint,
        stream=args.stream,
        ignore_eos=args.ignore_eos,
        api_key=args.api_key,
        seed=args.seed,
        timeout=args.timeout,
    )
    figures = run_bench(config)
    print(format_table(figures))
    if args.result_json is not None:
        Path(args.result_json).write_text(json.dumps(figures))
        print(f"figures written to {args.result_json}")
    return 0 if figures["completed"] else 1


def _add_arguments(bench: argparse.ArgumentParser) -> None:
    kinds = bench.add_subparsers(dest="bench_command", required=True, metavar="WHAT")
    serve = kinds.add_parser(
        "serve",
        help="load a running OpenAI-compatible server and report TTFT, TPOT, ITL, throughput",
        description=DESCRIPTION,
    )
    serve.add_argument("--base-url", required=True, help="the server, e.g. http://127.0.0.1:8000")
    serve.add_argument("--model", help="the served model to ask (default: the first it lists)")
    serve.add_argument("--api-key", help="the server's API key")
    serve.add_argument(
        "--endpoint", choices=["chat", "completions"], default="chat", help="which API to load"
    )
    serve.add_argument(
        "--concurrency", type=positive_int, default=1, help="most requests in flight"
    )
    serve.add_argument("--num-requests", type=positive_int, default=100, help="requests to send")
    serve.add_argument("--input-len", type=positive_int, default=128, help="prompt tokens, about")
    serve.add_argument(
        "--output-len", type=positive_int, default=128, help="max_tokens per request"
    )
    serve.add_argument(
        "--request-rate",
        type=_rate,
        default=math.inf,
        help="mean arrivals per second, Poisson (default inf: all at once)",
    )
    serve.add_argument(
        "--stream",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="stream the answers (default); --no-stream measures only latency and throughput",
    )
    serve.add_argument(
        "--ignore-eos",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="send vLLM's ignore_eos so each answer has --output-len tokens (default on)",
    )
    serve.add_argument("--seed", type=int, default=0, help="seed of the prompts and arrivals")
    serve.add_argument(
        "--timeout", type=float, default=600.0, help="seconds to wait on a silent server"
    )
    serve.add_argument("--result-json", help="write every figure to this JSON file")


def _run(args: argparse.Namespace) -> int:
    return _serve(args)  # serve is the one kind of bench there is


BENCH = Command("bench", "measure a running server (bench serve)", _add_arguments, _run)

"""``infercore bench serve``: the command over :mod:`infercore._bench`."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from infercore._bench import DESCRIPTION, BenchConfig, run_bench
from infercore._bench_metrics import GOODPUT_METRICS, format_table, parse_goodput
from infercore._bench_workload import LENGTHS, OUTPUT_BOUNDS, PROMPT_BOUNDS
from infercore._cli._flags import positive_int
from infercore._command import Command
from infercore._errors import InfercoreError

__all__ = ["BENCH"]


def _rate(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("the request rate must be > 0 (inf: all at once)")
    return value


def _share(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("the prefix share must be within 0..1")
    return value


def _goodput_target(text: str) -> tuple[str, float]:
    try:
        ((key, value),) = parse_goodput([text]).items()
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return key, value


def _serve(args: argparse.Namespace) -> int:
    if args.prefix_share is not None and not args.prefix_len:
        raise InfercoreError("--prefix-share needs --prefix-len")
    config = BenchConfig(
        base_url=args.base_url,
        model=args.model,
        concurrency=args.concurrency,
        num_requests=args.num_requests,
        input_len=args.input_len,
        output_len=args.output_len,
        request_rate=args.request_rate,
        lengths=args.lengths,
        prefix_len=args.prefix_len,
        prefix_share=1.0 if args.prefix_share is None else args.prefix_share,
        goodput=dict(args.goodput or ()),
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
        "--lengths",
        choices=LENGTHS,
        default="fixed",
        help="fixed: every prompt about --input-len tokens and every max_tokens --output-len "
        "(default); long-tail: both drawn from a seeded lognormal with those means "
        f"(ShareGPT-like), prompts within {PROMPT_BOUNDS[0]}..{PROMPT_BOUNDS[1]} tokens, "
        f"outputs within {OUTPUT_BOUNDS[0]}..{OUTPUT_BOUNDS[1]}",
    )
    serve.add_argument(
        "--prefix-len",
        type=positive_int,
        default=0,
        help="a shared system prompt of about this many tokens, the same text for every "
        "request that has it, before the request's own prompt (default 0: none)",
    )
    serve.add_argument(
        "--prefix-share",
        type=_share,
        help="the share of requests (0..1) that carry the --prefix-len prompt (default 1)",
    )
    serve.add_argument(
        "--goodput",
        nargs="+",
        type=_goodput_target,
        metavar="KEY:MS",
        help="targets for goodput, the requests/s that meet all of them: "
        f"{', '.join(GOODPUT_METRICS)} in milliseconds, such as ttft:500 tpot:50",
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

"""The server's own cost, and batching through the server, with their targets.

Each part starts the real ``infercore deploy`` on a loopback port and loads it
with the real ``infercore bench serve`` (client-side, as vLLM measures):

1. echo backend (no model), concurrency 32, non-streaming and streaming:
   requests/s with no backend delay (target >= 1000 non-streaming);
2. echo backend with a known delay (``first_token_delay``), concurrency 32:
   the median latency the server adds over the echo backend's own time,
   which is measured in this process on the echo backend alone (its
   ``generate``) with the same requests at the same concurrency (target < 5 ms);
3. pt backend on SmolLM2-135M-Instruct: output tokens/s at 16 concurrent
   streams over the figure at concurrency 1 (target >= 3).

Run ``python benchmarks/bench_server.py`` (``--skip-pt`` or ``--skip-echo`` for a part).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import infercore
from infercore.testing import INFERCORE_COMMAND, deployed, server_env

CONCURRENCY = 32


def bench(url: str, *args: str) -> dict[str, Any]:
    """``infercore bench serve`` against ``url``; its figures."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "result.json"
        argv = [
            *INFERCORE_COMMAND,
            "bench",
            "serve",
            "--base-url",
            url,
            *args,
            "--result-json",
            str(path),
        ]
        result = subprocess.run(argv, capture_output=True, text=True, env=server_env(), check=False)
        if result.returncode != 0:
            raise SystemExit(f"bench serve failed:\n{result.stdout}\n{result.stderr}")
        figures: dict[str, Any] = json.loads(path.read_text())
    if figures["failed"]:
        raise SystemExit(f"{figures['failed']} requests failed: {figures['first_errors']}")
    return figures


async def _echo_baseline(delay: float, requests: int, prompt: str, output_len: int) -> float:
    """Median seconds per request of the echo backend itself, in process, at CONCURRENCY.

    The backend alone, driven straight through its ``generate`` on this loop:
    everything else on the served path (the engine included) is the server's.
    """
    entry = infercore.get_plugin_manager().registry.choose("echo")
    backend = entry.load()("echo", entry.spec.options(first_token_delay=delay))
    tokenizer = backend.tokenizer
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
    )
    params = infercore.SamplingParams(max_tokens=output_len, ignore_eos=True)
    slots = asyncio.Semaphore(CONCURRENCY)

    async def one(index: int) -> float:
        prepared = infercore.PreparedRequest(f"r{index}", text, tokenizer.encode(text))
        async with slots:
            start = time.perf_counter()
            async for _ in backend.generate(prepared, params):
                pass
            return time.perf_counter() - start

    latencies = await asyncio.gather(*(one(i) for i in range(requests)))
    await backend.aclose()
    return statistics.median(latencies)


def echo_throughput(requests: int) -> None:
    print(f"== echo backend, no delay, concurrency {CONCURRENCY}, {requests} requests x 16 tokens")
    with deployed("--model", "echo", "--backend", "echo") as url:
        for mode in ("--no-stream", "--stream"):
            figures = bench(
                url, mode, "--concurrency", str(CONCURRENCY), "--num-requests", str(requests),
                "--input-len", "32", "--output-len", "16",
            )  # fmt: skip
            target = "  (target >= 1000)" if mode == "--no-stream" else ""
            print(
                f"  {mode[2:]:>9}: {figures['request_throughput']:8.1f} requests/s, "
                f"median latency {figures['median_e2el_ms']:.2f} ms{target}"
            )


def echo_added_latency(requests: int, delay: float) -> None:
    print(
        f"== echo backend, first_token_delay {delay * 1000:.0f} ms, concurrency {CONCURRENCY}, "
        f"{requests} requests x 16 tokens: median latency the server adds"
    )
    with deployed(
        "--model", "echo", "--backend", "echo", "-O", f"first_token_delay={delay}"
    ) as url:
        for stream in (False, True):
            mode = "--stream" if stream else "--no-stream"
            figures = bench(
                url, mode, "--concurrency", str(CONCURRENCY), "--num-requests", str(requests),
                "--input-len", "32", "--output-len", "16",
            )  # fmt: skip
            # The same prompt size (the echo backend's tokens are bytes) and shape, in process.
            # (19 bytes of a prompt are ChatML's).
            prompt = "x" * round(statistics.median(figures["input_lens"]) - 19)
            own = asyncio.run(_echo_baseline(delay, requests, prompt, 16))
            served = figures["median_e2el_ms"]
            print(
                f"  {mode[2:]:>9}: served median {served:.2f} ms - echo's own median "
                f"{own * 1000:.2f} ms = {served - own * 1000:.2f} ms added "
                f"({figures['request_throughput']:.1f} requests/s) (target < 5 ms)"
            )


def pt_batching(output_len: int, threads: int | None) -> None:
    shown = f"{threads} torch threads" if threads else "torch's default threads"
    print(
        f"== pt backend, smollm2-135m-instruct, {output_len} tokens a stream (EOS ignored), {shown}"
    )
    args = ["--model", "smollm2-135m-instruct", "--backend", "pt", "-O", "max_batch_size=16"]
    env = {"OMP_NUM_THREADS": str(threads)} if threads else None
    with deployed(*args, env=env) as url:
        shape = ["--input-len", "32", "--output-len", str(output_len)]
        bench(url, "--concurrency", "2", "--num-requests", "2", "--output-len", "4")  # warm-up
        single = bench(url, "--concurrency", "1", "--num-requests", "2", *shape)
        batched = bench(url, "--concurrency", "16", "--num-requests", "16", *shape)
    one, many = single["output_throughput"], batched["output_throughput"]
    for name, figures in (("concurrency  1", single), ("concurrency 16", batched)):
        print(
            f"  {name}: {figures['output_throughput']:8.1f} output tokens/s "
            f"(median TPOT {figures['median_tpot_ms']:.1f} ms)"
        )
    print(f"  ratio 16 / 1:   {many / one:8.2f} (target >= 3)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=5000, help="requests of the echo runs")
    parser.add_argument("--delay", type=float, default=0.1, help="echo first_token_delay, s")
    parser.add_argument("--output-len", type=int, default=32, help="tokens of the pt streams")
    parser.add_argument("--skip-pt", action="store_true", help="leave out the SmolLM2 part")
    parser.add_argument("--skip-echo", action="store_true", help="leave out the echo parts")
    # One thread by default: the server shares a small machine with this client (and
    # here with others), and torch's spinning OpenMP workers on oversubscribed cores
    # run several times slower.
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=1,
        help="OMP_NUM_THREADS of the pt server (default 1; 0: torch's own choice)",
    )
    args = parser.parse_args()
    if not args.skip_echo:
        echo_throughput(args.requests)
        echo_added_latency(min(args.requests, 20 * CONCURRENCY), args.delay)
    if not args.skip_pt:
        pt_batching(args.output_len, args.torch_threads)


if __name__ == "__main__":
    main()

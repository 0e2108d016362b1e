"""Performance under real load, on the built-in SmolLM2 model, against its targets.

a. offline: the same seeded requests of long-tailed prompt and output lengths
   (EOS ignored, greedy) through ``Engine(backend="pt")``, through plain
   transformers ``generate`` in left-padded static batches of the same size
   (each batch runs until its longest answer; only each row's own tokens
   count), and through ``vllm.LLM.generate`` on the same token ids with the
   same most sequences at a time. Output tokens/s; pt/transformers (target
   >= 1.5) and pt/vLLM (target >= 0.7).
b. shared prefix: requests with one 300-token system prompt arriving over
   time (Poisson), streamed through the Python API, on pt with
   ``enable_prefix_caching`` on and off; median TTFT off/on (target >= 2).
c. a long prompt into running streams: 16 streams decoding, then one
   1,500-token prompt; the gaps between each stream's tokens, on pt with
   ``enable_chunked_prefill`` on and off; TPOT p99/p50 over the streams
   (target <= 1.5), and the stricter ITL p99/p50 over every gap, which shows
   each step that a prefill chunk slows.
d. served: ``infercore deploy`` with pt, with vLLM, and vLLM's own server,
   each loaded by ``infercore bench serve`` with long-tailed lengths and the
   shared system prompt on half the requests, Poisson arrivals at several
   rates; output tokens/s, goodput, TTFT and TPOT; infercore-vLLM over
   vLLM's server for throughput (target >= 0.95) and p99 TTFT (target <= 1.1).

Run ``python benchmarks/bench_load.py`` (``--only offline,prefix,long,served``
for some parts, ``--quick`` for a small run of each).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import random
import statistics
import sys
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import Any

import torch
from bench_structured import timed
from bench_vllm import ENGINE, deploy_options, raw_vllm, vllm_flags
from load_streams import long_prompt_into_streams, poisson_ttfts
from load_workload import Mixed, Sizer, mixed
from transformers import AutoModelForCausalLM, AutoTokenizer

import infercore
from infercore._bench import BenchConfig, run_bench
from infercore._bench_metrics import parse_goodput, percentile
from infercore.testing import deployed

MODEL = "smollm2-135m-instruct"
DTYPE = "float32"  # the pt and vLLM engines alike; this CPU has no native bf16
#: The longest request of the long-tailed workloads: a 2,000-token prompt, the
#: 300-token system prompt and a 500-token answer.
CONTEXT = 4096
VLLM = {**ENGINE, "max_model_len": CONTEXT}
PARTS = ("offline", "prefix", "long", "served")


@dataclass(frozen=True)
class Sizes:
    """How much each part sends: about 15 minutes in all on two CPU cores."""

    offline_requests: int = 32
    offline_input_len: int = 192
    offline_output_len: int = 64
    prefix_requests: int = 24
    prefix_rate: float = 2.0
    prefix_len: int = 300
    question_len: int = 48
    prefix_output_len: int = 16
    streams: int = 16
    stream_tokens: int = 256
    long_prompt: int = 1500
    # A p99 over fewer requests is the slowest one's, and moves from run to run.
    served_requests: int = 32
    served_input_len: int = 128
    served_output_len: int = 64
    # Below, near and past what these servers sustain on two cores.
    rates: tuple[float, ...] = (0.5, 1.0, math.inf)


QUICK = Sizes(
    offline_requests=8,
    offline_output_len=32,
    prefix_requests=8,
    prefix_rate=4.0,
    streams=4,
    stream_tokens=32,
    served_requests=8,
    served_output_len=16,
    rates=(math.inf,),
)


@dataclass(frozen=True)
class Target:
    """One of the target ratios: its value, the bound and which side of it passes."""

    name: str
    value: float
    bound: float
    at_least: bool

    def line(self) -> str:
        met = self.value >= self.bound if self.at_least else self.value <= self.bound
        sign = ">=" if self.at_least else "<="
        return (
            f"  {self.name:<58} {self.value:7.2f}  (target {sign} {self.bound}: "
            f"{'met' if met else 'missed'})"
        )


def _ms(seconds: list[float], q: float) -> float:
    return percentile(sorted(seconds), q) * 1000


def _release() -> None:
    """Give back what the last engine held before the next one starts (24 GiB, 2 cores)."""
    gc.collect()


# -- a. offline, mixed lengths ---------------------------------------------------------


def pt_offline(work: Mixed, batch: int) -> float:
    configs = [
        infercore.RequestConfig(temperature=0.0, max_tokens=n, ignore_eos=True)
        for n in work.outputs
    ]
    with infercore.Engine(MODEL, backend="pt", dtype=DTYPE, max_batch_size=batch) as engine:
        engine.infer(work.requests[:2], {"max_tokens": 2})  # warm-up
        rate, lengths = timed(engine, work.requests, configs)
    if lengths != work.outputs:
        raise SystemExit(f"pt answered {lengths} tokens, not the drawn {work.outputs}")
    return rate


def _generate(model: Any, tokenizer: Any, rows: list[list[int]], new: int) -> None:
    """One static batch, left-padded, until its every row has ``new`` tokens."""
    inputs = tokenizer.pad({"input_ids": rows}, return_tensors="pt")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    model.generate(
        **inputs, max_new_tokens=new, min_new_tokens=new, do_sample=False, pad_token_id=pad
    )


def hf_offline(path: str, work: Mixed, batch: int) -> float:
    tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, DTYPE)).eval()
    with torch.inference_mode():
        _generate(model, tokenizer, work.prompts[:2], 2)  # warm-up
        start = time.perf_counter()
        for first in range(0, len(work.prompts), batch):
            rows = work.prompts[first : first + batch]
            _generate(model, tokenizer, rows, max(work.outputs[first : first + batch]))
        elapsed = time.perf_counter() - start
    del model
    _release()
    return work.output_tokens / elapsed


def offline(sizes: Sizes, sizer: Sizer, path: str, batch: int, seed: int) -> list[Target]:
    count = sizes.offline_requests
    work = mixed(sizer, count, sizes.offline_input_len, sizes.offline_output_len, seed)
    prompt_lens = [len(ids) for ids in work.prompts]
    print(
        f"== a. offline, mixed lengths: {count} requests, long-tail prompts around "
        f"{sizes.offline_input_len} tokens (mean {statistics.fmean(prompt_lens):.0f}, "
        f"max {max(prompt_lens)}) and outputs around {sizes.offline_output_len} (mean "
        f"{statistics.fmean(work.outputs):.0f}, max {max(work.outputs)}), EOS ignored, greedy, "
        f"{DTYPE}, {batch} sequences at most at a time",
        flush=True,
    )
    ours = pt_offline(work, batch)
    print(f"  infercore Engine(pt):                     {ours:8.1f} output tokens/s", flush=True)
    hf = hf_offline(path, work, batch)
    print(f"  transformers generate, static batches:    {hf:8.1f} output tokens/s", flush=True)
    vllm = raw_vllm(path, work.prompts, work.outputs, {**VLLM, "max_num_seqs": batch})
    _release()
    print(f"  vllm.LLM.generate:                        {vllm:8.1f} output tokens/s", flush=True)
    return [
        Target("offline: pt / transformers (output tok/s)", ours / hf, 1.5, at_least=True),
        Target("offline: pt / vLLM (output tok/s)", ours / vllm, 0.7, at_least=True),
    ]


# -- b. a shared prefix ------------------------------------------------------------------


def prefix(sizes: Sizes, sizer: Sizer, batch: int, seed: int) -> list[Target]:
    rng = random.Random(seed)
    system = sizer.text(rng, sizes.prefix_len)
    requests = [
        sizer.chat(sizer.text(rng, sizes.question_len), system)
        for _ in range(sizes.prefix_requests + 1)
    ]
    config = infercore.RequestConfig(
        temperature=0.0, max_tokens=sizes.prefix_output_len, ignore_eos=True
    )
    prompt_lens = [len(sizer.ids(r)) for r in requests]
    print(
        f"== b. shared prefix: {sizes.prefix_requests} requests arriving at "
        f"{sizes.prefix_rate:g}/s (Poisson), each the one {sizes.prefix_len}-token system "
        f"prompt and its own {sizes.question_len}-token question "
        f"({statistics.fmean(prompt_lens):.0f} prompt tokens in all), "
        f"{sizes.prefix_output_len} tokens out, streamed",
        flush=True,
    )
    medians = {}
    for caching in (True, False):
        options = {"dtype": DTYPE, "max_batch_size": batch, "enable_prefix_caching": caching}
        with infercore.Engine(MODEL, backend="pt", **options) as engine:
            engine.infer(requests[:1], config)  # warm-up: the system prompt seen once
            ttfts = asyncio.run(
                poisson_ttfts(engine, requests[1:], config, sizes.prefix_rate, seed)
            )
        _release()
        medians[caching] = _ms(ttfts, 50)
        print(
            f"  prefix caching {'on ' if caching else 'off'}: TTFT p50 {medians[caching]:8.1f} ms, "
            f"p99 {_ms(ttfts, 99):8.1f} ms",
            flush=True,
        )
    ratio = medians[False] / medians[True]
    return [Target("prefix: TTFT p50 without / with caching", ratio, 2.0, at_least=True)]


# -- c. a long prompt into running streams ---------------------------------------------


def long_prompt(sizes: Sizes, sizer: Sizer, batch: int, seed: int) -> list[Target]:
    rng = random.Random(seed)
    streams = [sizer.request(rng, 32) for _ in range(sizes.streams)]
    long_request = sizer.request(rng, sizes.long_prompt)
    stream_config = infercore.RequestConfig(
        temperature=0.0, max_tokens=sizes.stream_tokens, ignore_eos=True
    )
    long_config = infercore.RequestConfig(temperature=0.0, max_tokens=16, ignore_eos=True)
    print(
        f"== c. long prompt into running streams: {sizes.streams} streams of "
        f"{sizes.stream_tokens} tokens (EOS ignored); once all are decoding, one "
        f"{len(sizer.ids(long_request))}-token prompt arrives; the gaps between each "
        "stream's tokens",
        flush=True,
    )
    targets = []
    for chunked in (True, False):
        options = {
            "dtype": DTYPE,
            "max_batch_size": max(batch, sizes.streams + 1),
            "enable_chunked_prefill": chunked,
        }
        with infercore.Engine(MODEL, backend="pt", **options) as engine:
            engine.infer(streams[:2], {"max_tokens": 2})  # warm-up
            gaps, long_ttft = asyncio.run(
                long_prompt_into_streams(engine, streams, stream_config, long_request, long_config)
            )
        _release()
        every = [gap for stream in gaps for gap in stream]
        p50, p99 = _ms(every, 50), _ms(every, 99)
        # A stream's TPOT is its mean gap: a stall spread over all its tokens.
        tpots = [statistics.fmean(stream) for stream in gaps]
        tpot50, tpot99 = _ms(tpots, 50), _ms(tpots, 99)
        print(
            f"  chunked prefill {'on ' if chunked else 'off'}: ITL p50 {p50:7.1f} ms, p99 "
            f"{p99:7.1f} ms, max {max(every) * 1000:7.1f} ms; TPOT p50 {tpot50:7.1f} ms, "
            f"p99 {tpot99:7.1f} ms; the long prompt's TTFT {long_ttft * 1000:7.1f} ms",
            flush=True,
        )
        state = "on" if chunked else "off"
        targets += [
            Target(
                f"long: TPOT p99 / p50 of the streams, chunked prefill {state}",
                tpot99 / tpot50,
                1.5,
                at_least=False,
            ),
            Target(
                f"long: ITL p99 / p50, each gap, chunked prefill {state}",
                p99 / p50,
                1.5,
                at_least=False,
            ),
        ]
    return targets


# -- d. served -------------------------------------------------------------------------

_COLUMNS = (
    ("output_throughput", "out tok/s"),
    ("request_goodput", "goodput/s"),
    ("median_ttft_ms", "TTFT p50"),
    ("p99_ttft_ms", "TTFT p99"),
    ("median_tpot_ms", "TPOT p50"),
    ("p99_tpot_ms", "TPOT p99"),
)


SERVERS = ("infercore deploy, pt", "infercore deploy, vllm", "vLLM's own server")


def _deployed(name: str, path: str) -> AbstractContextManager[str]:
    """One of the ``SERVERS`` on a loopback port; its URL."""
    if name == "infercore deploy, pt":
        return deployed("--model", MODEL, "--backend", "pt", "-O", f"dtype={DTYPE}")
    if name == "infercore deploy, vllm":
        options = deploy_options(VLLM)
        return deployed("--model", MODEL, "--backend", "vllm", *options, start_timeout=600)
    own = [sys.executable, "-m", "vllm.entrypoints.openai.api_server"]
    flags = ["--model", path, "--served-model-name", MODEL, *vllm_flags(VLLM)]
    return deployed(*flags, command=own, start_timeout=600)


def served(sizes: Sizes, path: str, goodput: dict[str, float], seed: int) -> list[Target]:
    shape = BenchConfig(
        "",
        model=MODEL,
        num_requests=sizes.served_requests,
        concurrency=sizes.served_requests,
        input_len=sizes.served_input_len,
        output_len=sizes.served_output_len,
        lengths="long-tail",
        prefix_len=sizes.prefix_len,
        prefix_share=0.5,
        goodput=goodput,
        seed=seed,
    )
    targets_text = " ".join(f"{k}:{v:g}ms" for k, v in goodput.items())
    print(
        f"== d. served: infercore bench serve, {sizes.served_requests} requests a run, long-tail "
        f"prompts around {sizes.served_input_len} tokens and outputs around "
        f"{sizes.served_output_len} (EOS ignored), a {sizes.prefix_len}-token system prompt on "
        f"half of them, Poisson arrivals; goodput within {targets_text}",
        flush=True,
    )
    header = "".join(f"{title:>11}" for _, title in _COLUMNS)
    print(f"  {'server':<24}{'rate/s':>7}{header}", flush=True)
    figures: dict[str, dict[float, dict[str, Any]]] = {}
    for name in SERVERS:
        figures[name] = {}
        with _deployed(name, path) as url:
            run_bench(replace(shape, base_url=url, num_requests=2, concurrency=2))  # warm-up
            for rate in sizes.rates:
                result = run_bench(replace(shape, base_url=url, request_rate=rate))
                if result["failed"]:
                    raise SystemExit(f"{name}: {result['failed']} failed: {result['first_errors']}")
                figures[name][rate] = result
                row = "".join(f"{result[key] or 0.0:11.1f}" for key, _ in _COLUMNS)
                print(f"  {name:<24}{rate:>7g}{row}", flush=True)
        _release()
    ours, theirs = figures["infercore deploy, vllm"], figures["vLLM's own server"]
    targets = []
    for rate in sizes.rates:
        throughput = ours[rate]["output_throughput"] / theirs[rate]["output_throughput"]
        ttft = ours[rate]["p99_ttft_ms"] / theirs[rate]["p99_ttft_ms"]
        targets += [
            Target(f"served {rate:g}/s: vllm / vLLM server, out tok/s", throughput, 0.95, True),
            Target(f"served {rate:g}/s: vllm / vLLM server, TTFT p99", ttft, 1.1, False),
        ]
    return targets


# -- the command -----------------------------------------------------------------------


def _parts(text: str) -> list[str]:
    parts = [part.strip() for part in text.split(",") if part.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown parts {unknown}; choose from {', '.join(PARTS)}")
    return parts


def _rates(text: str) -> tuple[float, ...]:
    return tuple(float(rate) for rate in text.split(","))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--only", type=_parts, default=list(PARTS), help=f"parts to run, of {','.join(PARTS)}"
    )
    parser.add_argument("--quick", action="store_true", help="a small run of each part")
    parser.add_argument(
        "--batch-size",
        type=int,
        default=32,
        help="most sequences at a time: pt's max_batch_size, vLLM's max_num_seqs offline, "
        "the static batches of transformers (default 32, pt's own default)",
    )
    parser.add_argument("--requests", type=int, help="requests of the offline part")
    parser.add_argument("--num-requests", type=int, help="requests of each served run")
    parser.add_argument(
        "--rates", type=_rates, help="the served arrival rates a second (default 0.5,1,inf)"
    )
    parser.add_argument(
        "--goodput",
        nargs="+",
        default=["ttft:2000", "tpot:200"],
        metavar="KEY:MS",
        help="the served runs' goodput targets (default ttft:2000 tpot:200)",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sizes = QUICK if args.quick else Sizes()
    if args.requests:
        sizes = replace(sizes, offline_requests=args.requests)
    if args.num_requests:
        sizes = replace(sizes, served_requests=args.num_requests)
    if args.rates:
        sizes = replace(sizes, rates=args.rates)
    try:
        goodput = parse_goodput(args.goodput)
    except ValueError as exc:
        parser.error(str(exc))
    path = infercore.get_plugin_manager().registry.resolve_model(MODEL)
    sizer = Sizer(AutoTokenizer.from_pretrained(path))
    print(f"model {MODEL}, {torch.get_num_threads()} torch threads", flush=True)
    targets: list[Target] = []
    if "offline" in args.only:
        targets += offline(sizes, sizer, path, args.batch_size, args.seed)
    if "prefix" in args.only:
        targets += prefix(sizes, sizer, args.batch_size, args.seed)
    if "long" in args.only:
        targets += long_prompt(sizes, sizer, args.batch_size, args.seed)
    if "served" in args.only:
        targets += served(sizes, path, goodput, args.seed)
    print("== the targets")
    for target in targets:
        print(target.line())


if __name__ == "__main__":
    main()

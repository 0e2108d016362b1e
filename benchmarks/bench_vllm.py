"""infercore's vLLM backend against vLLM used directly, on the same prompts, in one run.

1. Offline: 64 chat prompts x 64 new tokens (EOS ignored, greedy) through
   ``vllm.LLM.generate`` on the prompts' token ids, then through
   ``infercore.Engine(backend="vllm").infer``; output tokens/s of each and
   the ratio (target >= 0.95).
2. Served: ``infercore deploy --backend vllm`` against vLLM's own OpenAI
   server, each loaded by ``infercore bench serve`` at concurrency 16 with
   the same request shape; output tokens/s ratio (target >= 0.9) and median
   TTFT ratio (target <= 1.2).

Both sides use the same engine settings (see ENGINE). Run
``python benchmarks/bench_vllm.py`` (``--skip-offline`` / ``--skip-served``).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from bench_pt import requests as chat_requests
from bench_server import bench

import infercore
from infercore.testing import deployed

MODEL = "smollm2-135m-instruct"
#: vLLM on this CPU: no compilation, float32, a modest share of host memory.
ENGINE: dict[str, Any] = {
    "dtype": "float32",
    "enforce_eager": True,
    "max_model_len": 2048,
    "gpu_memory_utilization": 0.2,
}


def vllm_flags(settings: dict[str, Any]) -> list[str]:
    """Engine settings as the flags of vLLM's own server."""
    flags = []
    for name, value in settings.items():
        flag = f"--{name.replace('_', '-')}"
        flags += [flag] if value is True else [flag, str(value)]
    return flags


def deploy_options(settings: dict[str, Any]) -> list[str]:
    """Engine settings as ``infercore deploy`` options."""
    return [item for name, value in settings.items() for item in ("-O", f"{name}={value}")]


def raw_vllm(
    path: str, prompts: list[list[int]], output_lens: list[int], settings: dict[str, Any]
) -> float:
    """Output tokens/s of ``vllm.LLM.generate`` on token-id prompts, greedy, EOS ignored,
    each answer ``output_lens`` long; the engine is shut down after."""
    from vllm import LLM, SamplingParams, TokensPrompt

    llm = LLM(model=path, **settings)
    params = [SamplingParams(temperature=0.0, max_tokens=n, ignore_eos=True) for n in output_lens]
    batch = [TokensPrompt(prompt_token_ids=ids) for ids in prompts]
    llm.generate(batch[:2], SamplingParams(max_tokens=2), use_tqdm=False)
    start = time.perf_counter()
    outputs = llm.generate(batch, params, use_tqdm=False)
    elapsed = time.perf_counter() - start
    generated = sum(len(o.outputs[0].token_ids) for o in outputs)
    llm.llm_engine.engine_core.shutdown()
    del llm
    return generated / elapsed


def ours(requests: list[dict[str, Any]], output_len: int) -> tuple[float, list[list[int]]]:
    config = infercore.RequestConfig(temperature=0.0, max_tokens=output_len, ignore_eos=True)
    with infercore.Engine(MODEL, backend="vllm", **ENGINE) as engine:
        tokenizer = engine.backend.tokenizer
        prompts = [
            tokenizer.encode(
                tokenizer.apply_chat_template(
                    r["messages"], tokenize=False, add_generation_prompt=True
                ),
                add_special_tokens=False,
            )
            for r in requests
        ]
        engine.infer(requests[:2], {"max_tokens": 2})
        start = time.perf_counter()
        responses = engine.infer(requests, config)
        elapsed = time.perf_counter() - start
    generated = sum(r.usage.completion_tokens for r in responses)  # type: ignore[union-attr]
    return generated / elapsed, prompts


def offline(count: int, output_len: int) -> None:
    path = infercore.get_plugin_manager().registry.resolve_model(MODEL)
    requests = chat_requests(count)
    mine, prompts = ours(requests, output_len)
    theirs = raw_vllm(path, prompts, [output_len] * len(prompts), ENGINE)
    print(f"== offline, {count} prompts x {output_len} tokens, greedy, EOS ignored")
    print(f"  vllm.LLM.generate:             {theirs:8.1f} output tokens/s")
    print(f"  infercore Engine(vllm).infer:  {mine:8.1f} output tokens/s")
    print(f"  ratio infercore / vLLM:        {mine / theirs:8.3f} (target >= 0.95)")


def served(count: int, output_len: int) -> None:
    path = infercore.get_plugin_manager().registry.resolve_model(MODEL)
    shape = [
        "--concurrency", "16", "--num-requests", str(count),
        "--input-len", "32", "--output-len", str(output_len),
    ]  # fmt: skip
    options = deploy_options(ENGINE)
    with deployed("--model", MODEL, "--backend", "vllm", *options, start_timeout=600) as url:
        bench(url, "--model", MODEL, "--concurrency", "2", "--num-requests", "2")
        mine = bench(url, "--model", MODEL, *shape)
    vllm_server = [sys.executable, "-m", "vllm.entrypoints.openai.api_server"]
    with deployed(
        "--model", path, "--served-model-name", MODEL, *vllm_flags(ENGINE),
        command=vllm_server, start_timeout=600,
    ) as url:  # fmt: skip
        bench(url, "--model", MODEL, "--concurrency", "2", "--num-requests", "2")
        theirs = bench(url, "--model", MODEL, *shape)
    print(f"== served, infercore bench serve, concurrency 16, {count} requests x {output_len}")
    for name, figures in (("vLLM's own server", theirs), ("infercore deploy", mine)):
        print(
            f"  {name:<18} {figures['output_throughput']:8.1f} output tokens/s, "
            f"median TTFT {figures['median_ttft_ms']:8.1f} ms"
        )
    tokens = mine["output_throughput"] / theirs["output_throughput"]
    ttft = mine["median_ttft_ms"] / theirs["median_ttft_ms"]
    print(f"  output tokens/s ratio:   {tokens:6.3f} (target >= 0.9)")
    print(f"  median TTFT ratio:       {ttft:6.3f} (target <= 1.2)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--output-len", type=int, default=64)
    parser.add_argument("--skip-offline", action="store_true")
    parser.add_argument("--skip-served", action="store_true")
    args = parser.parse_args()
    if not args.skip_offline:
        offline(args.prompts, args.output_len)
    if not args.skip_served:
        served(args.prompts, args.output_len)


if __name__ == "__main__":
    main()

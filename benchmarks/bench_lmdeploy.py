"""infercore's LMDeploy backend against LMDeploy's own pipeline, on the same prompts, on a
CUDA GPU.

For each engine (TurboMind, the PyTorch engine): 64 chat prompts x 64 new tokens (greedy,
EOS ignored) through ``lmdeploy.pipeline(...).infer`` on the prompts as the chat template
renders them, then through ``infercore.Engine(backend="lmdeploy").infer``; output tokens/s
of each and the ratio (target >= 0.95). Both sides use the same engine config (ENGINE).
Run ``python benchmarks/bench_lmdeploy.py`` (``--engine turbomind`` for one engine).
"""

from __future__ import annotations

import argparse
import gc
import time
from typing import Any

from bench_pt import requests as chat_requests

import infercore

MODEL = "smollm2-135m-instruct"
#: SmolLM2 needs little memory; the same settings on both sides.
ENGINE: dict[str, Any] = {"session_len": 2048, "cache_max_entry_count": 0.2, "max_batch_size": 64}


def ours(
    engine_name: str, requests: list[dict[str, Any]], output_len: int
) -> tuple[float, list[str]]:
    config = infercore.RequestConfig(temperature=0.0, max_tokens=output_len, ignore_eos=True)
    with infercore.Engine(MODEL, backend="lmdeploy", engine=engine_name, **ENGINE) as engine:
        tokenizer = engine.backend.tokenizer
        prompts = [
            tokenizer.apply_chat_template(r["messages"], tokenize=False, add_generation_prompt=True)
            for r in requests
        ]
        engine.infer(requests[:2], {"max_tokens": 2})
        start = time.perf_counter()
        responses = engine.infer(requests, config)
        elapsed = time.perf_counter() - start
    generated = sum(r.usage.completion_tokens for r in responses)  # type: ignore[union-attr]
    return generated / elapsed, prompts


def raw_lmdeploy(engine_name: str, path: str, prompts: list[str], output_len: int) -> float:
    from lmdeploy import GenerationConfig, PytorchEngineConfig, TurbomindEngineConfig, pipeline

    config_class = TurbomindEngineConfig if engine_name == "turbomind" else PytorchEngineConfig
    pipe = pipeline(path, backend_config=config_class(**ENGINE))
    params = GenerationConfig(max_new_tokens=output_len, ignore_eos=True, do_sample=False)
    pipe.infer(prompts[:2], GenerationConfig(max_new_tokens=2), do_preprocess=False)
    start = time.perf_counter()
    # The prompts are rendered already: LMDeploy applies no template of its own (its
    # tokenizer may still put a BOS token before each, one prompt token more).
    outputs = pipe.infer(prompts, params, do_preprocess=False)
    elapsed = time.perf_counter() - start
    generated = sum(output.generate_token_len for output in outputs)
    pipe.close()
    del pipe
    gc.collect()
    return generated / elapsed


def compare(engine_name: str, count: int, output_len: int) -> None:
    path = infercore.get_plugin_manager().registry.resolve_model(MODEL)
    mine, prompts = ours(engine_name, chat_requests(count), output_len)
    theirs = raw_lmdeploy(engine_name, path, prompts, output_len)
    print(f"== {engine_name}, {count} prompts x {output_len} tokens, greedy, EOS ignored")
    print(f"  lmdeploy.pipeline(...).infer:      {theirs:8.1f} output tokens/s")
    print(f"  infercore Engine(lmdeploy).infer:  {mine:8.1f} output tokens/s")
    print(f"  ratio infercore / LMDeploy:        {mine / theirs:8.3f} (target >= 0.95)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--output-len", type=int, default=64)
    parser.add_argument("--engine", choices=["turbomind", "pytorch"], action="append")
    args = parser.parse_args()
    for engine_name in args.engine or ["turbomind", "pytorch"]:
        compare(engine_name, args.prompts, args.output_len)


if __name__ == "__main__":
    main()

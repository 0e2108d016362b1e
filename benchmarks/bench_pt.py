"""Throughput of the pt backend against plain transformers ``generate``.

Both run the same 32 chat prompts x 64 new tokens (EOS ignored) on the
built-in SmolLM2 model, in the same dtype, in this one process:

* transformers: the 32 prompts as one left-padded batch through ``generate``;
* infercore: ``Engine.infer`` on the 32 requests, batched by the backend.

Prints output tokens/s of each and their ratio (target >= 0.9).
"""

from __future__ import annotations

import argparse
import time

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

import infercore
from infercore_pt._backend import _choose_dtype

TOPICS = [
    "the sea",
    "mountains",
    "a city at night",
    "autumn",
    "a library",
    "trains",
    "coffee",
    "the moon",
    "a garden",
    "rain",
    "bicycles",
    "old maps",
    "a market",
    "winter",
    "music",
    "the desert",
    "a lighthouse",
    "bread",
    "rivers",
    "clocks",
    "a forest",
    "snow",
    "bridges",
    "the stars",
    "a harbour",
    "tea",
    "kites",
    "a museum",
    "islands",
    "a storm",
    "paper",
    "bees",
]


def requests(count: int) -> list[dict[str, object]]:
    return [
        {"messages": [{"role": "user", "content": f"Write story {i + 1}, about {TOPICS[i % 32]}."}]}
        for i in range(count)
    ]


def bench_transformers(
    path: str, dtype: torch.dtype, reqs: list[dict[str, object]], new: int
) -> float:
    tokenizer = AutoTokenizer.from_pretrained(path, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).eval()
    prompts = [
        tokenizer.apply_chat_template(r["messages"], tokenize=False, add_generation_prompt=True)
        for r in reqs
    ]
    batch = tokenizer(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    settings = dict(
        max_new_tokens=new,
        min_new_tokens=new,
        do_sample=False,
        pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
    )
    with torch.inference_mode():
        model.generate(**batch, **{**settings, "max_new_tokens": 2, "min_new_tokens": 2})
        start = time.perf_counter()
        out = model.generate(**batch, **settings)
        elapsed = time.perf_counter() - start
    generated = (out.shape[1] - batch["input_ids"].shape[1]) * out.shape[0]
    return generated / elapsed


def bench_infercore(model: str, dtype: str, reqs: list[dict[str, object]], new: int) -> float:
    config = infercore.RequestConfig(max_tokens=new, temperature=0.0, ignore_eos=True)
    with infercore.Engine(model, backend="pt", dtype=dtype, max_batch_size=len(reqs)) as engine:
        engine.infer(reqs[:2], config.model_copy(update={"max_tokens": 2}))
        start = time.perf_counter()
        responses = engine.infer(reqs, config)
        elapsed = time.perf_counter() - start
    generated = sum(r.usage.completion_tokens for r in responses)  # type: ignore[union-attr]
    return generated / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--output-len", type=int, default=64)
    parser.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16"])
    args = parser.parse_args()
    path = infercore.get_plugin_manager().registry.resolve_model(args.model)
    dtype = _choose_dtype(args.dtype, torch.device("cpu"))
    assert isinstance(dtype, torch.dtype)
    reqs = requests(args.requests)
    dtype_name = str(dtype).removeprefix("torch.")
    ours = bench_infercore(args.model, dtype_name, reqs, args.output_len)
    theirs = bench_transformers(path, dtype, reqs, args.output_len)
    print(f"model {args.model}, {args.requests} requests x {args.output_len} tokens, {dtype_name}")
    print(f"transformers generate (one padded batch): {theirs:8.1f} output tokens/s")
    print(f"infercore pt backend (Engine.infer):      {ours:8.1f} output tokens/s")
    print(f"ratio infercore / transformers:           {ours / theirs:8.3f} (target >= 0.9)")


if __name__ == "__main__":
    main()

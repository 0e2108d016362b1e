"""Throughput of the pt backend's batch with a JSON schema against without.

The same 32 chat prompts on the built-in SmolLM2 model, in one engine, greedy:

* json_schema: every row under one JSON schema (xgrammar's masks), each ending
  where its JSON does;
* free: no schema, each row held to exactly the length of its structured answer
  (EOS ignored), so both batches do the same forward passes and differ only by
  the masks.

Each runs ``--repeats`` times, alternately; prints the best output tokens/s of
each and their ratio (target >= 0.8).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from infercore import ChatCompletionResponse, Engine, RequestConfig

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "maxLength": 60},
        "mood": {"type": "string", "enum": ["calm", "happy", "sad", "tense"]},
        "characters": {
            "type": "array",
            "items": {"type": "string", "maxLength": 20},
            "minItems": 1,
            "maxItems": 3,
        },
        "year": {"type": "integer", "minimum": 1000, "maximum": 2100},
    },
    "required": ["title", "mood", "characters", "year"],
    "additionalProperties": False,
}


def requests(count: int) -> list[dict[str, object]]:
    return [
        {"messages": [{"role": "user", "content": f"Describe story number {i + 1} as JSON."}]}
        for i in range(count)
    ]


def timed(
    engine: Engine, reqs: list[dict[str, object]], configs: list[RequestConfig]
) -> tuple[float, list[int]]:
    """Output tokens/s of the requests sent at once, one config each; each answer's length."""

    async def together() -> list[ChatCompletionResponse]:
        return await asyncio.gather(
            *(engine.infer_async(r, c) for r, c in zip(reqs, configs, strict=True))
        )

    start = time.perf_counter()
    responses = asyncio.run(together())
    elapsed = time.perf_counter() - start
    lengths = [r.usage.completion_tokens for r in responses]
    return sum(lengths) / elapsed, lengths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--requests", type=int, default=32)
    parser.add_argument("--output-len", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--dtype", default="float32", choices=["auto", "float32", "bfloat16"])
    args = parser.parse_args()
    reqs = requests(args.requests)
    structured = RequestConfig(max_tokens=args.output_len, temperature=0.0, json_schema=SCHEMA)
    options = {"dtype": args.dtype, "max_batch_size": args.requests}
    with Engine(args.model, backend="pt", **options) as engine:
        # Warm-up: the first forward passes, and the schema's compilation.
        engine.infer(reqs[:2], structured.model_copy(update={"max_tokens": 2}))
        _, lengths = timed(engine, reqs, [structured] * len(reqs))
        free = [
            RequestConfig(max_tokens=length, temperature=0.0, ignore_eos=True) for length in lengths
        ]
        # Alternated, best of each kept: a neighbour's load on the CPU hits both alike.
        free_rates, structured_rates = [], []
        for _ in range(args.repeats):
            free_rates.append(timed(engine, reqs, free)[0])
            structured_rates.append(timed(engine, reqs, [structured] * len(reqs))[0])
    free_rate, structured_rate = max(free_rates), max(structured_rates)
    mean = sum(lengths) / len(lengths)
    print(
        f"model {args.model}, {args.requests} requests, greedy, {mean:.1f} tokens per answer "
        f"(at most {args.output_len})"
    )
    print(f"free:              {free_rate:8.1f} output tokens/s")
    print(f"json_schema:       {structured_rate:8.1f} output tokens/s")
    print(f"ratio schema/free: {structured_rate / free_rate:8.3f} (target >= 0.8)")


if __name__ == "__main__":
    main()

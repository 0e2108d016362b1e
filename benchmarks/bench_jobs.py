"""What a dataset job costs over the engine: rows/s of ``infer_dataset`` (the machinery of
``infercore infer --val-dataset``) against ``Engine.infer`` of the same rows in one call.

Both run the same alpaca-style rows x the same new tokens (EOS ignored, greedy) on the
built-in SmolLM2 model on pt, in this one process, on one engine, alternating so
that neither side has the warmer machine; the best of each is kept. The job reads
the rows from a jsonl file and writes the result file, as the command does.
For contrast, one row at a time (an engine with ``max_batch_size=1``, as a
serving loop without batching does) on a share of the rows.

Prints rows/s of each and the ratio job / Engine.infer (target >= 0.95).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import infercore

TOPICS = ["the sea", "mountains", "a city at night", "autumn", "a library", "trains", "coffee"]


def rows(count: int) -> list[dict[str, str]]:
    return [
        {
            "instruction": "Write two sentences.",
            "input": f"{TOPICS[i % 7]}, number {i}",
            "output": "",
        }
        for i in range(count)
    ]


def as_request(row: dict[str, str]) -> dict[str, object]:
    text = f"{row['instruction']}\n{row['input']}"
    return {"messages": [{"role": "user", "content": text}]}


def time_infer(
    engine: infercore.Engine, data: list[dict[str, str]], config: dict[str, object]
) -> float:
    started = time.perf_counter()
    engine.infer([as_request(row) for row in data], config)
    return time.perf_counter() - started


def time_job(
    engine: infercore.Engine, source: Path, folder: Path, config: dict[str, object], run: int
) -> float:
    started = time.perf_counter()
    summary = infercore.infer_dataset(
        engine, source, result_path=folder / f"run{run}.jsonl", config=config, progress=False
    )
    elapsed = time.perf_counter() - started
    assert summary.failed == 0, summary
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=128)
    parser.add_argument("--tokens", type=int, default=32, help="new tokens per row")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--one-at-a-time-rows", type=int, default=8)
    args = parser.parse_args()
    config: dict[str, object] = {"temperature": 0.0, "max_tokens": args.tokens, "ignore_eos": True}
    data = rows(args.rows)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        source = folder / "rows.jsonl"
        source.write_text("".join(json.dumps(row) + "\n" for row in data))
        with infercore.Engine("smollm2-135m-instruct", backend="pt", dtype="float32") as engine:
            engine.infer([as_request(row) for row in data[:4]], config)  # warm-up
            infer_times, job_times = [], []
            for run in range(args.rounds):
                infer_times.append(time_infer(engine, data, config))
                job_times.append(time_job(engine, source, folder, config, run))
        few = data[: args.one_at_a_time_rows]
        few_source = folder / "few.jsonl"
        few_source.write_text("".join(json.dumps(row) + "\n" for row in few))
        with infercore.Engine(
            "smollm2-135m-instruct", backend="pt", dtype="float32", max_batch_size=1
        ) as single:
            single_time = time_job(single, few_source, folder, config, 99)
    infer_rate = args.rows / min(infer_times)
    job_rate = args.rows / min(job_times)
    single_rate = len(few) / single_time
    print(f"model smollm2-135m-instruct on pt, {args.rows} rows x {args.tokens} tokens, float32")
    print(f"Engine.infer (one call):             {infer_rate:7.2f} rows/s")
    print(f"infer_dataset (file in, file out):   {job_rate:7.2f} rows/s")
    print(f"one row at a time (max_batch_size=1): {single_rate:6.2f} rows/s ({len(few)} rows)")
    print(f"ratio infer_dataset / Engine.infer:  {job_rate / infer_rate:7.3f} (target >= 0.95)")
    print(f"ratio infer_dataset / one at a time: {job_rate / single_rate:7.1f}")


if __name__ == "__main__":
    main()

"""``infercore infer --val-dataset`` on the real SmolLM2 (pt backend), as users run it.

A 200-row file mixing ms-swift, alpaca and query/response rows, with a row whose
image file is missing, one over the model's context and one of no known shape,
runs to the end; killed with SIGKILL three times and run again, it ends with the
same file as a run that was never interrupted; two torchrun ranks give the same
rows and answers as one process.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from infercore.testing import INFERCORE_COMMAND, server_env

pytest.importorskip("torch")
pytest.importorskip("infercore_pt")

ROWS = 200
BAD = {17: "missing image", 60: "over the context", 133: "no known shape"}
FLAGS = ["--model", "smollm2-135m-instruct", "--backend", "pt", "-O", "dtype=float32"]
GENERATION = ["--temperature", "0", "--max-tokens", "8"]


def _row(index: int, folder: Path) -> Any:
    if index == 17:
        return {
            "messages": [{"role": "user", "content": "<image>What is this?"}],
            "images": [str(folder / "never-written.png")],
        }
    if index == 60:
        return {"query": "word " * 9000}
    if index == 133:
        return {"question": "a column no shape has"}
    topic = f"the number {index}"
    match index % 3:
        case 0:
            return {
                "messages": [
                    {"role": "user", "content": f"Say something about {topic}."},
                    {"role": "assistant", "content": "a reference answer"},
                ]
            }
        case 1:
            return {"instruction": "Answer in one short sentence.", "input": topic, "output": "x"}
        case _:
            return {"query": f"What do you know about {topic}?", "response": "y"}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("dataset")
    path = folder / "rows.jsonl"
    path.write_text("".join(json.dumps(_row(i, folder)) + "\n" for i in range(ROWS)))
    return path


def _command(dataset: Path, result: Path, *extra: str) -> list[str]:
    return [
        *INFERCORE_COMMAND,
        "infer",
        *FLAGS,
        "--val-dataset",
        str(dataset),
        "--result-path",
        str(result),
        *GENERATION,
        *extra,
    ]


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def uninterrupted(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    result = tmp_path_factory.mktemp("whole") / "results.jsonl"
    done = subprocess.run(
        _command(dataset, result, "--metric", "acc"),
        env=server_env(),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"rows: {ROWS} ({ROWS - len(BAD)} answered, {len(BAD)} failed" in done.stdout
    assert "metric: acc 0.0000" in done.stdout
    return _lines(result)


def test_the_run_goes_to_the_end_and_bad_rows_carry_their_errors(
    uninterrupted: list[dict[str, Any]],
) -> None:
    assert [line["index"] for line in uninterrupted] == list(range(ROWS))
    failed = {line["index"]: line["error"] for line in uninterrupted if "error" in line}
    assert sorted(failed) == sorted(BAD)
    assert failed[60]["param"] == "messages"
    assert failed[133]["param"] == "messages"
    assert all(error["type"] == "invalid_request_error" for error in failed.values())
    answered = [line for line in uninterrupted if "error" not in line]
    assert all(line["response"] for line in answered)
    assert {line["labels"] for line in answered} == {"a reference answer", "x", "y"}
    # A label is never sent: the last message of every answered row is the user's.
    assert all(line["messages"][-1]["role"] == "user" for line in answered)


def test_killed_three_times_and_rerun_it_ends_as_an_uninterrupted_run(
    dataset: Path, uninterrupted: list[dict[str, Any]], tmp_path: Path
) -> None:
    result = tmp_path / "results.jsonl"
    rng = random.Random(7)
    kills = 0
    while kills < 3:
        process = subprocess.Popen(
            _command(dataset, result),
            env=server_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Kill once the run is writing rows, at a random moment after that.
        deadline = time.monotonic() + 300
        while not (result.exists() and result.stat().st_size) and process.poll() is None:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 2.0))
        if process.poll() is not None:
            break  # it finished before the kill: nothing left to interrupt
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        kills += 1
        # Every line on disk is whole JSON and no row is there twice.
        text = result.read_bytes()
        complete = text[: text.rfind(b"\n") + 1].decode()
        indices = [json.loads(line)["index"] for line in complete.splitlines()]
        assert len(indices) == len(set(indices))
    assert kills == 3, "the run finished before it could be killed three times"
    final = subprocess.run(
        _command(dataset, result),
        env=server_env(),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert final.returncode == 0, final.stderr
    assert " done before)" in final.stdout
    assert _lines(result) == uninterrupted


def test_two_torchrun_ranks_give_the_rows_and_answers_of_one_process(
    dataset: Path, uninterrupted: list[dict[str, Any]], tmp_path: Path
) -> None:
    result = tmp_path / "results.jsonl"
    done = subprocess.run(
        _command(dataset, result, "--nproc", "2"),
        env=server_env({"OMP_NUM_THREADS": "1"}),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rank 0:" in done.stdout
    assert "rank 1:" in done.stdout
    assert _lines(result) == uninterrupted
    assert not list(tmp_path.glob("results.jsonl.rank*"))

"""infer_dataset on the fake backend: rows of every shape, failures, resume, metrics, settings.

The fake backend answers with the last user message, so every answer is known.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import image_echo_backend
import pytest

import infercore
from infercore.testing import INFERCORE_COMMAND, deployed, free_port, server_env

GREEDY = {"temperature": 0.0, "max_tokens": 64}


def _write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _mixed_rows(tmp_path: Path) -> list[Any]:
    return [
        {
            "messages": [
                {"role": "user", "content": "hello"},
                {"role": "assistant", "content": "hi"},
            ]
        },
        {"instruction": "Repeat", "input": "this", "output": "Repeat\nthis"},
        {"query": "a question", "response": "an answer", "system": "Be brief."},
        {
            "messages": [{"role": "user", "content": "<image>what?"}],
            "images": [str(tmp_path / "gone.png")],
        },
        {"messages": [{"role": "user", "content": "long " * 400}]},
        {"neither": "shape"},
        {"messages": [{"role": "user", "content": "the last"}], "max_tokens": 3},
    ]


def test_every_row_gets_one_line_in_order_and_bad_rows_carry_their_error(
    fake_engine: infercore.Engine, tmp_path: Path
) -> None:
    source = _write_jsonl(tmp_path / "rows.jsonl", _mixed_rows(tmp_path))
    out = tmp_path / "out" / "results.jsonl"
    summary = infercore.infer_dataset(
        fake_engine, source, result_path=out, config=GREEDY, progress=False
    )
    lines = _lines(out)
    assert [line["index"] for line in lines] == list(range(7))
    assert (summary.rows, summary.answered, summary.failed, summary.resumed) == (7, 4, 3, 0)

    assert lines[0]["response"] == "hello"
    assert lines[0]["labels"] == "hi"
    assert lines[0]["messages"] == [{"role": "user", "content": "hello"}]
    assert lines[0]["finish_reason"] == "stop"
    assert lines[0]["usage"]["completion_tokens"] == len("hello") + 1  # and the end token
    assert lines[1]["response"] == "Repeat\nthis"
    assert lines[2]["messages"][0] == {"role": "system", "content": "Be brief."}
    assert lines[2]["labels"] == "an answer"

    unwanted, too_long, shapeless = lines[3]["error"], lines[4]["error"], lines[5]["error"]
    assert unwanted["type"] == "invalid_request_error"
    assert unwanted["param"] == "images"  # the fake backend takes no images
    assert lines[3]["images"] == [str(tmp_path / "gone.png")]
    assert too_long["param"] == "messages"
    assert "response" not in lines[4]
    assert shapeless["param"] == "messages"
    # A row's own settings: at most 3 tokens.
    assert lines[6]["response"] == "the"
    assert lines[6]["finish_reason"] == "length"
    assert summary.completion_tokens == sum(
        line.get("usage", {}).get("completion_tokens", 0) for line in lines
    )


def test_a_rerun_answers_only_what_the_file_lacks(
    fake_engine: infercore.Engine, tmp_path: Path
) -> None:
    rows = [{"messages": [{"role": "user", "content": f"row {i}"}]} for i in range(20)]
    out = tmp_path / "results.jsonl"
    # What a killed run leaves: some rows, out of order, and a torn tail.
    earlier = [
        {"index": i, "response": f"kept {i}", "messages": rows[i]["messages"]} for i in (7, 2, 11)
    ]
    out.write_text(
        "".join(json.dumps(line) + "\n" for line in earlier) + '{"index": 5, "resp',
        encoding="utf-8",
    )
    summary = infercore.infer_dataset(
        fake_engine, rows, result_path=out, config=GREEDY, progress=False
    )
    lines = _lines(out)
    assert [line["index"] for line in lines] == list(range(20))
    assert (summary.answered, summary.resumed) == (17, 3)
    # The earlier run's rows are kept as they were, the others answered now.
    assert [lines[i]["response"] for i in (2, 7, 11)] == ["kept 2", "kept 7", "kept 11"]
    assert lines[5]["response"] == "row 5"
    # Once complete, the same command again answers nothing and changes nothing.
    before = out.read_bytes()
    again = infercore.infer_dataset(
        fake_engine, rows, result_path=out, config=GREEDY, progress=False
    )
    assert (again.answered, again.failed, again.resumed) == (0, 0, 20)
    assert out.read_bytes() == before


def test_sample_and_shuffle_pick_the_same_rows_on_every_run(
    fake_engine: infercore.Engine, tmp_path: Path
) -> None:
    rows = [{"query": f"q{i}"} for i in range(50)]
    picked = []
    for run in range(2):
        out = tmp_path / f"run{run}.jsonl"
        infercore.infer_dataset(
            fake_engine,
            rows,
            result_path=out,
            config=GREEDY,
            sample=10,
            shuffle=True,
            seed=3,
            progress=False,
        )
        picked.append([line["index"] for line in _lines(out)])
    assert picked[0] == picked[1]
    assert len(picked[0]) == 10
    assert picked[0] == sorted(picked[0])
    assert picked[0] != list(range(10))
    out = tmp_path / "first.jsonl"
    infercore.infer_dataset(
        fake_engine, rows, result_path=out, config=GREEDY, sample=4, progress=False
    )
    assert [line["index"] for line in _lines(out)] == [0, 1, 2, 3]


def test_metrics_score_the_answers_against_the_labels(
    fake_engine: infercore.Engine, tmp_path: Path
) -> None:
    rows = [
        {"query": "same", "response": "same"},
        {"query": "other", "response": "not this"},
        {"query": "no label"},
        {"neither": "shape"},
    ]
    summary = infercore.infer_dataset(
        fake_engine,
        rows,
        result_path=tmp_path / "r.jsonl",
        config=GREEDY,
        metric="acc",
        progress=False,
    )
    assert summary.metric == {"acc": 0.5, "scored": 2, "skipped": 2}
    assert "acc 0.5000" in str(summary)


def test_logprobs_and_n_choices_reach_the_line(
    fake_engine: infercore.Engine, tmp_path: Path
) -> None:
    rows = [{"query": "abc"}]
    out = tmp_path / "r.jsonl"
    config = {**GREEDY, "logprobs": True, "top_logprobs": 2}
    infercore.infer_dataset(fake_engine, rows, result_path=out, config=config, progress=False)
    (line,) = _lines(out)
    assert [entry["token"] for entry in line["logprobs"]][:3] == ["a", "b", "c"]
    assert all(len(entry["top_logprobs"]) == 2 for entry in line["logprobs"])
    out = tmp_path / "n.jsonl"
    config = {"temperature": 1.0, "seed": 1, "n": 2, "max_tokens": 4}
    infercore.infer_dataset(fake_engine, rows, result_path=out, config=config, progress=False)
    (line,) = _lines(out)
    assert isinstance(line["response"], list)
    assert len(line["response"]) == len(line["finish_reason"]) == 2


def test_an_adapter_the_engine_never_loaded_is_refused_before_any_row(
    fake_engine: infercore.Engine, tmp_path: Path
) -> None:
    source = _write_jsonl(tmp_path / "rows.jsonl", [{"query": "one"}, {"query": "two"}])
    out = tmp_path / "out.jsonl"
    with pytest.raises(infercore.InvalidRequestError, match="unknown adapter 'mine'") as caught:
        infercore.infer_dataset(fake_engine, source, result_path=out, adapter="mine")
    assert caught.value.param == "adapter"
    assert not out.exists()


def test_bad_job_settings_are_refused_before_any_row(
    fake_engine: infercore.Engine, tmp_path: Path
) -> None:
    out = tmp_path / "r.jsonl"
    with pytest.raises(infercore.InvalidRequestError, match="unknown metric"):
        infercore.infer_dataset(fake_engine, [{"query": "q"}], result_path=out, metric="bleu")
    with pytest.raises(infercore.InvalidRequestError) as refused:
        infercore.infer_dataset(
            fake_engine, [{"query": "q"}], result_path=out, config={"temperature": 9}
        )
    assert refused.value.param == "temperature"
    with pytest.raises(infercore.InvalidRequestError, match="stream"):
        infercore.infer_dataset(
            fake_engine, [{"query": "q"}], result_path=out, config={"stream": True}
        )
    assert not out.exists() or out.read_text() == ""


def test_a_server_that_is_not_there_stops_the_job_instead_of_failing_every_row(
    tmp_path: Path,
) -> None:
    out = tmp_path / "r.jsonl"
    client = infercore.InferClient(f"http://127.0.0.1:{free_port()}/v1", model="m")
    with client, pytest.raises(infercore.ServerUnreachableError):
        infercore.infer_dataset(client, [{"query": "q"}] * 3, result_path=out, progress=False)
    assert out.read_text() == ""


def test_it_runs_from_inside_a_running_event_loop(
    fake_engine: infercore.Engine, tmp_path: Path
) -> None:
    """A notebook's cell runs inside a loop; the sync call still works there."""

    async def cell() -> infercore.JobSummary:
        return infercore.infer_dataset(
            fake_engine, [{"query": "q"}], result_path=tmp_path / "r.jsonl", progress=False
        )

    assert asyncio.run(cell()).answered == 1


def test_progress_lines_go_to_a_log(
    fake_engine: infercore.Engine, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    infercore.infer_dataset(
        fake_engine, [{"query": "q"}] * 3, result_path=tmp_path / "r.jsonl", config=GREEDY
    )
    assert "rows 3 (0 failed)" in capfd.readouterr().err


def test_a_missing_image_fails_its_row_and_the_others_load_theirs(tmp_path: Path) -> None:
    image = pytest.importorskip("PIL.Image")
    picture = tmp_path / "here.png"
    image.new("RGB", (30, 20)).save(picture)
    manager = infercore.PluginManager(autoload=False)
    manager.register(image_echo_backend, name="image-echo")
    rows = [
        {"messages": [{"role": "user", "content": "<image>size?"}], "images": [str(picture)]},
        {
            "messages": [{"role": "user", "content": "<image>size?"}],
            "images": [str(tmp_path / "gone.png")],
        },
        {"query": "<image>size?", "images": [{"path": str(picture)}]},
    ]
    out = tmp_path / "r.jsonl"
    with infercore.Engine("m", backend="image-echo", plugins=manager) as engine:
        summary = infercore.infer_dataset(engine, rows, result_path=out, progress=False)
    lines = _lines(out)
    assert (summary.answered, summary.failed) == (2, 1)
    assert [lines[0]["response"], lines[2]["response"]] == ["30x20", "30x20"]
    assert "gone.png" in lines[1]["error"]["message"]
    assert lines[1]["error"]["code"] is not None


def test_the_command_runs_a_dataset_against_a_running_server(tmp_path: Path) -> None:
    """``infer --val-dataset --base-url``: the rows go to ``infercore deploy`` through
    InferClient; the echo backend answers each with its question."""
    pytest.importorskip("fastapi", reason="the server needs 'infercore[serve]'")
    rows = [{"query": f"question {i}", "response": f"question {i}"} for i in range(12)]
    rows[5] = {"query": "too long " * 200}  # over the echo server's 512-token context
    source = _write_jsonl(tmp_path / "rows.jsonl", rows)
    out = tmp_path / "out.jsonl"
    with deployed("--model", "echo", "--backend", "echo", "-O", "max_model_len=512") as url:
        done = subprocess.run(
            [
                *INFERCORE_COMMAND,
                "infer",
                "--base-url",
                url,
                "--val-dataset",
                str(source),
                "--result-path",
                str(out),
                "--max-tokens",
                "32",
                "--metric",
                "acc",
            ],
            env=server_env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    lines = _lines(out)
    assert [line["index"] for line in lines] == list(range(12))
    assert lines[0]["response"] == "question 0"
    assert lines[5]["error"]["param"] == "messages"
    assert "rows: 12 (11 answered, 1 failed, 0 done before)" in done.stdout
    assert "metric: acc 1.0000" in done.stdout

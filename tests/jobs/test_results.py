"""The job result file: recovery after a kill, exactly-once writes, the ordered finish."""

from __future__ import annotations

import inspect
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from infercore import InvalidRequestError
from infercore._jobs._results import ResultFile


def _line(record: dict[str, Any]) -> bytes:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def _records(path: Path) -> list[dict[str, Any]]:
    data = path.read_bytes()
    assert data.endswith(b"\n")
    return [json.loads(line) for line in data.splitlines()]


def test_rows_written_are_done_when_the_file_is_opened_again(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    with ResultFile(path, "index") as results:
        results.write({"index": 2, "text": "deux"})
        results.write({"index": 0, "text": "zéro ✓"})
        assert set(results.done) == {0, 2}
    assert path.read_bytes() == _line({"index": 2, "text": "deux"}) + _line(
        {"index": 0, "text": "zéro ✓"}
    )
    assert b'{"index":0,"text":"z\xc3\xa9ro \xe2\x9c\x93"}\n' in path.read_bytes()
    with ResultFile(path, "index") as results:
        assert set(results.done) == {0, 2}


def test_a_torn_tail_is_cut_wherever_the_kill_fell(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    good = _line({"index": 0, "text": "a"}) + _line({"index": 1, "text": "b"})
    last = _line({"index": 2, "text": "ü" * 5})
    # Every prefix of the last line that lacks its newline: from "{" to the whole
    # object. The whole object without its newline parses as JSON, and is cut
    # all the same: the writer sends a line with its newline in one write, so
    # such a line was never complete, and cutting it only costs redoing one row.
    for cut in range(1, len(last)):
        path.write_bytes(good + last[:cut])
        with ResultFile(path, "index") as results:
            assert set(results.done) == {0, 1}, cut
        assert path.read_bytes() == good, cut


def test_after_a_cut_tail_the_next_line_starts_clean(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_bytes(_line({"index": 0}) + b'{"index":1,"te')
    with ResultFile(path, "index") as results:
        results.write({"index": 1, "text": "again"})
    assert _records(path) == [{"index": 0}, {"index": 1, "text": "again"}]


@pytest.mark.parametrize(
    "bad",
    [
        b"not json\n",
        b"\n",
        b"[1, 2]\n",
        b'{"text": "no index"}\n',
        b'{"index": true}\n',
        b'{"index": 1.5}\n',
        b'{"index": 1, "text": "\xff"}\n',
    ],
)
def test_a_line_that_is_not_a_result_line_is_refused_and_kept(tmp_path: Path, bad: bytes) -> None:
    path = tmp_path / "out.jsonl"
    for content in (_line({"index": 0}) + bad + _line({"index": 2}), _line({"index": 0}) + bad):
        path.write_bytes(content)
        with pytest.raises(InvalidRequestError, match=r"line 2 of .*out\.jsonl") as caught:
            ResultFile(path, "index")
        assert caught.value.param == "result_path"
        assert path.read_bytes() == content


def test_a_tail_that_cannot_be_the_start_of_a_result_line_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(b"my notes")
    with pytest.raises(InvalidRequestError, match="line 1"):
        ResultFile(path, "index", param="output_file")
    assert path.read_bytes() == b"my notes"


def test_of_a_key_on_several_lines_the_first_counts(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    path.write_bytes(
        _line({"custom_id": "b", "n": 1})
        + _line({"custom_id": "a", "n": 2})
        + _line({"custom_id": "b", "n": 3})
    )
    with ResultFile(path, "custom_id") as results:
        assert set(results.done) == {"a", "b"}
        with pytest.raises(ValueError, match="already"):
            results.write({"custom_id": "b", "n": 4})
        results.finish(["a", "b"])
    assert _records(path) == [{"custom_id": "a", "n": 2}, {"custom_id": "b", "n": 1}]


def test_writing_a_key_twice_raises(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    with ResultFile(path, "index") as results:
        results.write({"index": 0})
        with pytest.raises(ValueError, match="already"):
            results.write({"index": 0, "text": "again"})
    with ResultFile(path, "index") as results:
        with pytest.raises(ValueError, match="already"):
            results.write({"index": 0})
        with pytest.raises(ValueError, match="needs an int or str 'index'"):
            results.write({"text": "no key"})
    assert _records(path) == [{"index": 0}]


def test_finish_writes_the_rows_in_the_given_order(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    with ResultFile(path, "index") as results:
        for index in (3, 1, 0):
            results.write({"index": index, "text": f"row {index}"})
    with ResultFile(path, "index") as results:
        results.write({"index": 2, "text": "row 2"})
        results.finish(range(4))
    assert _records(path) == [{"index": index, "text": f"row {index}"} for index in range(4)]
    assert sorted(os.listdir(tmp_path)) == ["out.jsonl"]


def test_finish_refuses_a_file_that_does_not_hold_exactly_the_rows(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    with ResultFile(path, "index") as results:
        results.write({"index": 1})
        results.write({"index": 0})
    written = path.read_bytes()
    with ResultFile(path, "index") as results:
        with pytest.raises(ValueError, match="1 rows are not written yet"):
            results.finish(range(3))
        with pytest.raises(ValueError, match="repeats"):
            results.finish([0, 1, 0])
        # More rows than the input has: the file is of another input, a user's mistake.
        with pytest.raises(InvalidRequestError, match="another input") as caught:
            results.finish([0])
        assert caught.value.param == "result_path"
    assert path.read_bytes() == written


def test_finishing_again_is_harmless(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    with ResultFile(path, "index") as results:
        results.write({"index": 1})
        results.write({"index": 0})
        results.finish([0, 1])
    finished = path.read_bytes()
    inode = path.stat().st_ino
    # What a kill during an earlier finish leaves: a partial copy beside the file.
    (tmp_path / ".out.jsonl.finish.tmp").write_bytes(b'{"index":0}\n{"ind')
    with ResultFile(path, "index") as results:
        assert set(results.done) == {0, 1}
        results.finish([0, 1])
    assert path.read_bytes() == finished
    assert path.stat().st_ino == inode  # already in order: not rewritten
    # A different order rewrites it, and takes the stale copy's place.
    with ResultFile(path, "index") as results:
        results.finish([1, 0])
    assert _records(path) == [{"index": 1}, {"index": 0}]
    assert sorted(os.listdir(tmp_path)) == ["out.jsonl"]


def test_closing_twice_is_harmless_and_a_closed_file_takes_no_rows(tmp_path: Path) -> None:
    results = ResultFile(tmp_path / "out.jsonl", "index")
    results.close()
    results.close()
    with pytest.raises(ValueError, match="closed"):
        results.write({"index": 0})
    with ResultFile(tmp_path / "out.jsonl", "index") as results:
        results.finish([])
    with pytest.raises(ValueError, match="closed"):
        results.finish([])


def test_the_folder_is_created_and_a_wrong_path_is_refused(tmp_path: Path) -> None:
    with ResultFile(tmp_path / "a" / "b" / "out.jsonl", "index") as results:
        results.write({"index": 0})
    assert _records(tmp_path / "a" / "b" / "out.jsonl") == [{"index": 0}]
    with pytest.raises(InvalidRequestError, match="cannot write results") as caught:
        ResultFile(tmp_path / "a", "index")
    assert caught.value.param == "result_path"
    with pytest.raises(InvalidRequestError, match="cannot write results"):
        ResultFile(tmp_path / "a" / "b" / "out.jsonl" / "inner.jsonl", "index")


def test_a_second_writer_of_the_same_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    with ResultFile(path, "index") as results:
        with pytest.raises(InvalidRequestError, match="another process is writing"):
            ResultFile(path, "index")
        results.write({"index": 0})
    with ResultFile(path, "index") as results:
        assert set(results.done) == {0}


def test_lines_are_fsynced_in_batches_and_on_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    with ResultFile(tmp_path / "out.jsonl", "index", fsync_every=3, fsync_seconds=3600) as results:
        opened = len(synced)  # the new file's folder
        for index in range(7):
            results.write({"index": index})
        assert len(synced) - opened == 2
    assert len(synced) - opened == 3
    with ResultFile(tmp_path / "other.jsonl", "index", fsync_seconds=0) as results:
        opened = len(synced)
        for index in range(4):
            results.write({"index": index})
        assert len(synced) - opened == 4


def test_after_a_failed_write_the_file_takes_no_more_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "out.jsonl"
    real_write = os.write

    def full_disk(fd: int, data: bytes) -> int:
        """Write half the line, then fail as a full disk does."""
        monkeypatch.setattr(os, "write", failing)
        return real_write(fd, data[: len(data) // 2])

    def failing(fd: int, data: bytes) -> int:
        raise OSError(28, "No space left on device")

    with ResultFile(path, "index") as results:
        results.write({"index": 0})
        monkeypatch.setattr(os, "write", full_disk)
        with pytest.raises(OSError, match="No space"):
            results.write({"index": 1, "text": "torn"})
        monkeypatch.setattr(os, "write", real_write)
        with pytest.raises(ValueError, match="closed"):
            results.write({"index": 2})
    with ResultFile(path, "index") as results:
        assert set(results.done) == {0}
    assert _records(path) == [{"index": 0}]


def _payload(index: int) -> str:
    """What the writer means for row ``index``: its own text, of very different sizes."""
    size = 100_000 if index % 41 == 0 else index * 7919 % 1500
    return f"row {index} " + chr(0x4E00 + index % 2000) * size


ROWS = 500
KILLS = 6

WRITER = f"""
import random
import sys
import time

from infercore._jobs._results import ResultFile

{inspect.getsource(_payload)}

path, rows, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
with ResultFile(path, "index", fsync_every=8) as results:
    todo = [index for index in range(rows) if index not in results.done]
    rng.shuffle(todo)
    for index in todo:
        time.sleep(rng.random() * 0.003)
        results.write({{"index": index, "text": _payload(index)}})
    results.finish(range(rows))
"""


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return -1


def _tear(path: Path, rng: random.Random) -> None:
    """Leave what a kill inside ``os.write`` leaves: the start of the next row's line.

    A kill seldom lands inside the write of one line, but it can (Linux stops a
    write to a file part way when a fatal signal is pending).
    """
    data = path.read_bytes()
    if not data.endswith(b"\n"):
        return  # empty, or torn by the kill itself
    done = {json.loads(line)["index"] for line in data.splitlines()}
    todo = sorted(set(range(ROWS)) - done)
    if not todo:
        return
    line = _line({"index": todo[0], "text": _payload(todo[0])})
    with path.open("ab") as file:
        file.write(line[: rng.randrange(1, len(line))])


def test_killed_at_random_moments_the_file_ends_with_every_row_once(tmp_path: Path) -> None:
    rng = random.Random(7)
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    path = tmp_path / "out" / "results.jsonl"
    command = [sys.executable, str(script), str(path), str(ROWS)]
    kills = 0
    for run in range(KILLS):
        before = _size(path)
        child = subprocess.Popen([*command, str(run)])
        # The interpreter takes a while to start: kill once the writer is at work.
        deadline = time.monotonic() + 30
        while child.poll() is None and _size(path) == before and time.monotonic() < deadline:
            time.sleep(0.002)
        time.sleep(rng.uniform(0, 0.15))
        if child.poll() is not None:
            break
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait() == -signal.SIGKILL
        kills += 1
        if rng.random() < 0.5:
            _tear(path, rng)
    assert kills >= KILLS - 2
    subprocess.run([*command, str(KILLS)], check=True, timeout=60)

    records = _records(path)
    assert [record["index"] for record in records] == list(range(ROWS))
    for record in records:
        assert record["text"] == _payload(record["index"])
    assert os.listdir(path.parent) == ["results.jsonl"]

"""``infercore infer --val-dataset`` refuses what it cannot do before it loads a model."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest

from infercore.testing import INFERCORE_COMMAND, server_env


@pytest.mark.skipif(
    importlib.util.find_spec("rouge_score") is not None, reason="rouge-score is installed here"
)
def test_a_metric_whose_package_is_missing_is_refused_before_the_backend_is_chosen(
    tmp_path: Path,
) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"query": "q"}\n')
    done = subprocess.run(
        [
            *INFERCORE_COMMAND,
            "infer",
            "--model",
            "m",
            "--backend",
            "no-such-backend",
            "--val-dataset",
            str(rows),
            "--result-path",
            str(tmp_path / "out.jsonl"),
            "--metric",
            "rouge",
        ],
        env=server_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "pip install 'infercore[jobs]'" in done.stderr
    assert "no-such-backend" not in done.stderr
    assert not (tmp_path / "out.jsonl").exists()

"""A script that never closes its engine exits cleanly, every time."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import infercore

    engine = infercore.Engine("smollm2-135m-instruct", backend="pt", max_batch_size=32)
    requests = [{"messages": [{"role": "user", "content": f"Count to {i}"}]} for i in range(32)]
    config = infercore.RequestConfig(max_tokens=16, temperature=0)
    engine.infer(requests, config)
    engine.infer(requests, config)
    print("answered")
    """
)


def test_an_engine_left_open_exits_zero_in_every_run() -> None:
    for run in range(5):
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, f"run {run}: exit {done.returncode}\n{done.stderr[-2000:]}"
        assert done.stdout.strip() == "answered"
        assert "Traceback" not in done.stderr, done.stderr[-2000:]

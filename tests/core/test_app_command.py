"""``infercore app`` where gradio is not installed: the command exists and says how to
get it, before any model loads."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest


@pytest.mark.skipif(
    importlib.util.find_spec("gradio") is not None, reason="gradio is installed here"
)
def test_the_app_without_gradio_names_the_extra() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "infercore", "app", "--model", "smollm2-135m-instruct"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "pip install 'infercore[app]'" in result.stderr

"""A third-party backend, installed as its own distribution, works like a first-party one.

The example lives in tests/core/thirdparty_backend; install it with
``pip install -e tests/core/thirdparty_backend``. Its own conformance module runs the
shared suite on it; these tests show the core finds it through its entry point.
"""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

import infercore

EXAMPLE_DISTRIBUTION = "infercore-example-backend"


def _console_script() -> Path:
    script = Path(sys.executable).parent / "infercore"
    assert script.exists(), f"the infercore console script is missing next to {sys.executable}"
    return script


def test_example_declares_an_entry_point_in_the_infercore_group(
    example_distribution: metadata.Distribution,
) -> None:
    entry_points = example_distribution.entry_points.select(group="infercore")

    assert [(ep.name, ep.value) for ep in entry_points] == [
        ("example", "infercore_example_backend")
    ]


def test_infercore_backends_lists_the_example_from_its_entry_point(
    example_distribution: metadata.Distribution,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFERCORE_")}

    result = subprocess.run(
        [str(_console_script()), "backends"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("example ")]
    assert f"{EXAMPLE_DISTRIBUTION} {example_distribution.version}" in line
    assert line.rstrip().endswith("available")
    assert "repeats the last user message" in result.stdout
    assert "plugin 'example'" not in result.stderr  # no load failure reported for it


def test_infercore_backends_skips_the_example_when_blocked(
    example_distribution: metadata.Distribution,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INFERCORE_")}
    env["INFERCORE_DISABLE_PLUGINS"] = EXAMPLE_DISTRIBUTION

    result = subprocess.run(
        [str(_console_script()), "backends"], env=env, capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 0, result.stderr
    assert not any(line.startswith("example ") for line in result.stdout.splitlines())


def test_engine_serves_the_example_backend(example_distribution: metadata.Distribution) -> None:
    with infercore.Engine("parrot", backend="example") as engine:
        (response,) = engine.infer(
            [{"messages": [{"role": "user", "content": "pieces of eight"}]}],
            {"temperature": 0},
        )

    assert isinstance(response, infercore.ChatCompletionResponse)
    assert response.choices[0].message.content == "pieces of eight"
    assert response.choices[0].finish_reason == "stop"
    assert response.usage.completion_tokens == 4  # three words, then end-of-sequence
    assert engine.backend_name == "example"


def test_engine_refuses_a_setting_the_example_does_not_declare(
    example_distribution: metadata.Distribution,
) -> None:
    with (
        infercore.Engine("parrot", backend="example") as engine,
        pytest.raises(infercore.InvalidRequestError) as caught,
    ):
        engine.infer([{"messages": [{"role": "user", "content": "hi"}]}], {"top_p": 0.5})

    assert caught.value.param == "top_p"


def test_engine_refuses_an_option_the_example_does_not_take(
    example_distribution: metadata.Distribution,
) -> None:
    with pytest.raises(infercore.InvalidRequestError) as caught:
        infercore.Engine("parrot", backend="example", max_batch_size=4)

    assert caught.value.param == "max_batch_size"

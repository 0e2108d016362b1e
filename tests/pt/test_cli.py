"""The real ``infercore`` command on the pt backend: one-shot, chat, listings, errors."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

try:
    import pexpect
except ImportError:  # only the terminal tests need it; nox installs it with the test deps
    pexpect = None

pytest.importorskip("torch")
pytest.importorskip("transformers")
needs_pty = pytest.mark.skipif(pexpect is None, reason="needs pexpect: pip install pexpect")

MODEL = "smollm2-135m-instruct"
# The console script next to this interpreter; `python -m infercore` where there is none.
_SCRIPT = shutil.which("infercore", path=str(Path(sys.executable).parent))
COMMAND = [_SCRIPT] if _SCRIPT else [sys.executable, "-m", "infercore"]
ENGINE_FLAGS = ["--model", MODEL, "--backend", "pt", "-O", "dtype=float32"]
GREEDY_FLAGS = ["--temperature", "0", "--max-tokens", "24"]
TIMEOUT_S = 120


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "TERM": "dumb", "HF_HUB_OFFLINE": "1"}


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    argv = [*COMMAND, *args]
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=TIMEOUT_S, env=_env(), check=False
    )


def _answer(chat: pexpect.spawn, next_prompt: str = "<<< ") -> str:
    """The answer printed after ``>>> ``, up to the prompt for the next query."""
    chat.expect_exact(">>> ")
    chat.expect_exact(f"\r\n{next_prompt}")
    return str(chat.before)


def _command(chat: pexpect.spawn, line: str, reply: str, next_prompt: str = "<<< ") -> None:
    chat.sendline(line)
    chat.expect_exact(reply)
    chat.expect_exact(f"\r\n{next_prompt}")


def _spawn(*args: str) -> pexpect.spawn:
    """``infercore infer`` on a pseudo-terminal, as a person would run it."""
    return pexpect.spawn(
        COMMAND[0],
        [*COMMAND[1:], "infer", *ENGINE_FLAGS, *GREEDY_FLAGS, *args],
        env=_env(),
        encoding="utf-8",
        timeout=TIMEOUT_S,
        echo=False,
    )


def _exit(chat: pexpect.spawn) -> int | None:
    chat.sendline("exit")
    chat.expect(pexpect.EOF)
    chat.close()
    return chat.exitstatus


@pytest.fixture
def chat() -> Iterator[pexpect.spawn]:
    child = _spawn("--system", "Your name is Zorblax.")
    try:
        yield child
    finally:
        child.close(force=True)


def test_one_shot_query_prints_the_answer() -> None:
    query = ["--query", "What is the capital of France?"]
    result = _run("infer", *ENGINE_FLAGS, *query, *GREEDY_FLAGS)
    assert result.returncode == 0, result.stderr
    assert "Paris" in result.stdout


@needs_pty
def test_interactive_chat_follows_its_commands_and_exits_cleanly(chat: pexpect.spawn) -> None:
    chat.expect_exact("on backend pt. Commands:")
    chat.expect_exact("<<< ")

    # --system is applied: the model answers with the name the system prompt gave it.
    chat.sendline("What is your name?")
    assert "Zorblax" in _answer(chat)

    chat.sendline("What is the capital of France?")
    assert "Paris" in _answer(chat)

    _command(chat, "multi-line", "Multi-line mode", next_prompt="<<<[M] ")
    chat.sendline("What is the capital")
    chat.sendline("of France?#")
    assert "Paris" in _answer(chat, next_prompt="<<<[M] ")
    # In multi-line mode a command, like any input, ends with #.
    _command(chat, "single-line#", "Single-line mode.")

    chat.sendline("reset-system")
    chat.expect_exact("<<<[S] ")
    _command(chat, "Your name is Max.", "System prompt set; conversation cleared.")
    chat.sendline("What is your name?")
    answer = _answer(chat)
    assert "Max" in answer
    assert "Zorblax" not in answer

    _command(chat, "clear", "Conversation cleared.")
    chat.sendline("What is the capital of France?")
    assert "Paris" in _answer(chat)

    assert _exit(chat) == 0


@needs_pty
def test_refused_query_leaves_the_chat_running() -> None:
    # A 64-token context holds the first exchange; the second question no longer fits.
    child = _spawn("-O", "max_model_len=64")
    try:
        child.expect_exact("<<< ")
        child.sendline("What is the capital of France?")
        assert "Paris" in _answer(child)
        child.sendline("And of Spain?")
        assert "error: max_tokens=24 does not fit" in _answer(child)
        _command(child, "clear", "Conversation cleared.")
        child.sendline("What is the capital of France?")
        assert "Paris" in _answer(child)
        assert _exit(child) == 0
    finally:
        child.close(force=True)


def test_backends_lists_pt_and_how_to_install_the_others() -> None:
    result = _run("backends")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    (pt,) = [line for line in lines if line.startswith("pt ")]
    assert pt.rstrip().endswith(" available")
    below = lines[lines.index(pt) + 1 :]
    capabilities = next(line for line in below if "capabilities:" in line)
    for word in ("embed", "generate", "temperature", "top_p", "top_k", "min_p", "seed"):
        assert word in capabilities.split(": ", 1)[1].split(", ")
    assert "logprobs(top 20)" in capabilities
    for name in ("vllm", "lmdeploy"):
        (line,) = [line for line in lines if line.startswith(f"{name} ")]
        assert "not installed" in line
        assert f"pip install 'infercore[{name}]'" in line


def test_unknown_backend_is_refused_listing_the_installed_ones() -> None:
    result = _run("infer", "--model", MODEL, "--backend", "nope", "--query", "hi")
    assert result.returncode != 0
    assert "unknown backend 'nope'" in result.stderr
    installed = result.stderr.split("installed backends:", 1)[1]
    assert "pt" in [name.strip() for name in installed.split(",")]
    assert "Traceback" not in result.stderr


def test_out_of_range_option_is_refused_naming_it() -> None:
    result = _run("infer", "--model", MODEL, "--backend", "pt", "-O", "max_batch_size=0")
    assert result.returncode != 0
    assert "max_batch_size" in result.stderr
    assert "greater than or equal to 1" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_option_is_refused_naming_it() -> None:
    result = _run("infer", "--model", MODEL, "--backend", "pt", "-O", "no_such_option=3")
    assert result.returncode != 0
    assert "no_such_option" in result.stderr
    assert "Traceback" not in result.stderr


def test_media_flags_without_a_query_are_refused_before_loading() -> None:
    result = _run("infer", *ENGINE_FLAGS, "--images", "cat.png")
    assert result.returncode == 2
    assert "--images, --videos and --audios go with --query" in result.stderr
    assert "Traceback" not in result.stderr

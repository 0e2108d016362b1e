"""The probe: whether LMDeploy can run here, said without importing torch or LMDeploy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from infercore_lmdeploy._probe import cuda_gpus

#: Whether this machine shows the driver a GPU; the probe's answer depends on it.
HAS_GPU = cuda_gpus() > 0


def _gpu_files(tmp_path: Path, devices: list[str], gpus: list[str]) -> tuple[Path, Path]:
    dev, driver = tmp_path / "dev", tmp_path / "gpus"
    dev.mkdir()
    driver.mkdir()
    for name in devices:
        (dev / name).touch()
    for name in gpus:
        (driver / name).mkdir()
    return dev, driver


def test_gpus_are_counted_from_the_drivers_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    dev, driver = _gpu_files(tmp_path, ["nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm"], [])
    assert cuda_gpus(dev, driver) == 2
    assert cuda_gpus(tmp_path / "none", tmp_path / "none") == 0


def test_the_drivers_proc_folders_count_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    dev, driver = _gpu_files(tmp_path, ["nvidiactl"], ["0000:3b:00.0"])
    assert cuda_gpus(dev, driver) == 1


@pytest.mark.parametrize("hidden", ["", "-1", " "])
def test_cuda_visible_devices_can_hide_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hidden: str
) -> None:
    dev, driver = _gpu_files(tmp_path, ["nvidia0"], ["0000:3b:00.0"])
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", hidden)
    assert cuda_gpus(dev, driver) == 0


_PROBE = """
import json, sys
import infercore
entry = infercore.get_plugin_manager().registry.get("lmdeploy")
reason = entry.unavailable_reason
quantization = entry.quantization
heavy = sorted(name for name in ("torch", "lmdeploy", "transformers") if name in sys.modules)
print(json.dumps(
    {"reason": reason, "quantization": quantization, "heavy": heavy, "plugin": entry.distribution}
))
"""


def _probe(**env: str) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    answer: dict[str, object] = json.loads(result.stdout.splitlines()[-1])
    return answer


def test_registering_and_probing_import_neither_torch_nor_lmdeploy() -> None:
    answer = _probe()
    assert answer["heavy"] == []
    assert answer["plugin"] == "infercore-lmdeploy"


@pytest.mark.skipif(HAS_GPU, reason="this machine has an NVIDIA GPU")
def test_the_probe_says_that_lmdeploy_needs_a_cuda_gpu() -> None:
    reason = str(_probe()["reason"])
    assert "LMDeploy runs only on CUDA GPUs" in reason
    assert "no NVIDIA GPU is visible here" in reason


def test_awq_and_gptq_checkpoints_load_wherever_lmdeploy_runs() -> None:
    answer = _probe()
    assert answer["quantization"] == {"awq": None, "gptq": None}
    assert answer["heavy"] == []


def test_hidden_gpus_make_the_backend_unavailable() -> None:
    assert "CUDA_VISIBLE_DEVICES" in str(_probe(CUDA_VISIBLE_DEVICES="")["reason"])


@pytest.mark.skipif(not HAS_GPU, reason="needs an NVIDIA GPU")
def test_the_probe_passes_where_a_gpu_is_visible() -> None:
    assert _probe()["reason"] is None


@pytest.mark.skipif(HAS_GPU, reason="this machine has an NVIDIA GPU")
def test_infercore_backends_lists_it_as_unavailable_with_the_reason() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "infercore", "backends"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    line = next(line for line in result.stdout.splitlines() if line.startswith("lmdeploy "))
    assert "infercore-lmdeploy" in line
    assert "LMDeploy runs only on CUDA GPUs" in result.stdout
    # The reason is given once, on the backend's line, not again for each method.
    assert result.stdout.count("LMDeploy runs only on CUDA GPUs") == 1
    assert "quantized checkpoints: awq, gptq (where it runs)" in result.stdout

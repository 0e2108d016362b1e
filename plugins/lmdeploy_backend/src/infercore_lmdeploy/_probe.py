"""Whether LMDeploy can run here, found without importing torch or LMDeploy."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

__all__ = ["cuda_gpus", "unavailable_reason"]

_INSTALL = "pip install 'infercore[lmdeploy]'"


def cuda_gpus(dev: Path = Path("/dev"), driver: Path = Path("/proc/driver/nvidia/gpus")) -> int:
    """How many NVIDIA GPUs this process can use, as the driver shows them.

    The driver makes a device file (``/dev/nvidia0``, ...) and a folder under
    ``/proc/driver/nvidia/gpus`` for each GPU; a container sees those of the GPUs
    passed into it. ``CUDA_VISIBLE_DEVICES`` set empty (or to ``-1``) hides them all.
    """
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return 0
    files = [path for path in dev.glob("nvidia*") if path.name.removeprefix("nvidia").isdigit()]
    folders = list(driver.iterdir()) if driver.is_dir() else []
    return max(len(files), len(folders))


def unavailable_reason() -> str | None:
    """Why the backend cannot run on this machine, or ``None`` when it can."""
    if cuda_gpus() == 0:
        return (
            "LMDeploy runs only on CUDA GPUs (neither TurboMind nor its PyTorch engine has "
            "a CPU device), and no NVIDIA GPU is visible here (no /dev/nvidia<N> device, "
            "nothing in /proc/driver/nvidia/gpus, or CUDA_VISIBLE_DEVICES hides them)"
        )
    if importlib.util.find_spec("lmdeploy") is None:
        return f"lmdeploy is not installed: {_INSTALL}"
    return None

"""What the LMDeploy tests that run the real engine share: a CUDA GPU, and settings that
let TurboMind, the PyTorch engine and the pt reference share one."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from infercore_lmdeploy._probe import cuda_gpus

__all__ = ["ENGINES", "LMDEPLOY_OPTIONS", "requires_gpu"]


def _cuda() -> bool:
    # The CPU session installs LMDeploy beside the CPU build of torch: a GPU alone is
    # not enough, torch must be a CUDA build too.
    if cuda_gpus() == 0 or importlib.util.find_spec("torch") is None:
        return False
    import torch

    return bool(torch.cuda.is_available())


requires_gpu = pytest.mark.skipif(
    not _cuda(),
    reason="LMDeploy runs only on CUDA GPUs and none is usable here "
    "(run `nox -s tests-gpu` on a machine with one)",
)

#: LMDeploy's two engines.
ENGINES = ("turbomind", "pytorch")

#: SmolLM2 needs little: a short context and a small KV cache, so that two engines and
#: the pt reference fit on one GPU at once.
LMDEPLOY_OPTIONS: dict[str, Any] = {
    "session_len": 2048,
    "cache_max_entry_count": 0.1,
    "max_batch_size": 64,
}

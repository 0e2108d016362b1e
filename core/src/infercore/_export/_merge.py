"""A LoRA adapter merged into its base model's weights through peft."""

from __future__ import annotations

from pathlib import Path

from infercore._errors import InfercoreError, InvalidRequestError
from infercore._export._checkpoint import load_model, save_checkpoint, saved_dtype
from infercore._export._output import check_output, default_output, staged
from infercore._export._requires import require
from infercore._export._source import resolve_model

__all__ = ["merge_lora"]


def _adapter_folder(adapter: str | Path) -> Path:
    folder = Path(adapter).expanduser()
    if not (folder / "adapter_config.json").is_file():
        raise InvalidRequestError(
            f"{adapter} is not a LoRA adapter folder (it has no adapter_config.json)",
            param="adapters",
        )
    return folder


def merge_lora(
    model: str,
    adapter: str | Path,
    output: str | Path | None = None,
    *,
    overwrite: bool = False,
    dtype: str = "auto",
) -> Path:
    """Merge the LoRA ``adapter`` into ``model`` and save the result: a plain checkpoint.

    The merge runs in float32 and the merged weights are saved in ``dtype`` (``auto``:
    the base checkpoint's) as safetensors, with the config, generation config, and the
    adapter's tokenizer or processor (else the base's) with its chat template.
    ``output`` defaults to ``{adapter}-merged``; a folder with files in it is refused
    unless ``overwrite``. Returns the output folder. Needs ``infercore[export]``.
    """
    folder = _adapter_folder(adapter)
    target = Path(output) if output is not None else default_output(str(adapter), "-merged")
    base = resolve_model(model)
    check_output(target, overwrite=overwrite, inputs=[base, str(folder)])
    require("merging a LoRA adapter", "infercore[export]", "torch", "transformers", "peft")
    import torch
    from peft import PeftModel

    merged = load_model(base, torch.float32)
    try:
        merged = PeftModel.from_pretrained(merged, str(folder)).merge_and_unload()
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise InfercoreError(f"cannot apply the adapter {adapter} to {model}: {exc}") from exc
    saved = saved_dtype(base, dtype)
    merged = merged.to(saved)
    merged.config.dtype = saved
    with staged(target) as staging:
        save_checkpoint(merged, staging, str(folder), base)
    return target.expanduser().resolve()

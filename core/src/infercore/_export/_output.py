"""Where an export is written: the default folder, the overwrite rule, staging."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from infercore._errors import InvalidRequestError

__all__ = ["check_output", "default_output", "staged"]


def default_output(source: str, suffix: str) -> Path:
    """A local folder's sibling named with ``suffix``; for a hub id or a built-in model
    name, a folder in the working directory named after the model."""
    path = Path(source).expanduser()
    if path.exists():
        path = path.resolve()
        return path.with_name(path.name + suffix)
    return Path.cwd() / (path.name + suffix)


def check_output(output: Path, *, overwrite: bool, inputs: Sequence[str]) -> None:
    """Refuse an output that is a file, that holds (or is) an input, or that is a folder
    with files in it, unless ``overwrite``."""
    target = output.expanduser().resolve()
    if target.exists() and not target.is_dir():
        raise InvalidRequestError(f"the output {output} is a file, not a folder", param="output")
    for source in inputs:
        path = Path(source).expanduser()
        if path.exists() and (target == path.resolve() or target in path.resolve().parents):
            raise InvalidRequestError(
                f"the output {output} would replace {source}, which the export reads; "
                "choose another folder",
                param="output",
            )
    if target.is_dir() and any(target.iterdir()) and not overwrite:
        raise InvalidRequestError(
            f"the output folder {output} is not empty; choose another, or pass --overwrite "
            "to replace what is in it",
            param="output",
        )


@contextmanager
def staged(output: Path) -> Iterator[Path]:
    """A folder beside ``output`` to write into, put in its place once the export is whole.

    An export that fails leaves no half-written checkpoint behind, and one that replaces
    an older folder (``--overwrite``) removes it only when the new one is complete.
    """
    target = output.expanduser().resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    # Beside the target, so the final rename stays on one filesystem; made by mkdir, so that
    # the folder gets the user's usual permissions (mkdtemp's are the owner's only).
    staging = target.parent / f".{target.name}-{uuid.uuid4().hex}.tmp"
    staging.mkdir()
    try:
        yield staging
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise

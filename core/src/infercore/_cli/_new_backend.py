"""``infercore new-backend NAME``: write a backend distribution to start from."""

from __future__ import annotations

import argparse
from pathlib import Path

from infercore._command import Command

__all__ = ["NEW_BACKEND"]


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="the backend's name, such as mine")
    parser.add_argument("--dir", default=".", help="where to write it (default: here)")


def _run(args: argparse.Namespace) -> int:
    from infercore._scaffold import write_backend

    folder = write_backend(args.name, Path(args.dir))
    print(f"wrote {folder}: pip install -e '{folder}' && pytest '{folder}'")
    return 0


NEW_BACKEND = Command(
    "new-backend",
    "write a backend distribution that passes the conformance suite",
    _add_arguments,
    _run,
)

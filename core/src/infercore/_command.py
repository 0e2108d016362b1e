"""``Command``: one subcommand of ``infercore``, as the core and plugins declare it."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Command"]


@dataclass(frozen=True)
class Command:
    """A subcommand: ``infercore NAME ...``.

    ``add_arguments`` adds the subcommand's flags to the parser the CLI made for it;
    ``run`` takes the parsed arguments and returns the exit code. An
    :class:`~infercore.InfercoreError` that ``run`` raises is printed as ``error: ...``
    with exit code 2.
    """

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    description: str | None = None

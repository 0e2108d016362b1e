"""The libraries an export needs, checked before any model is loaded."""

from __future__ import annotations

import importlib.util

from infercore._errors import InfercoreError

__all__ = ["require"]


def require(purpose: str, requirement: str, *modules: str) -> None:
    """Refuse, naming what to install, where any of ``modules`` is missing."""
    missing = [name for name in modules if importlib.util.find_spec(name) is None]
    if missing:
        raise InfercoreError(
            f"{purpose} needs {', '.join(missing)}, which is not installed; "
            f"install it with: pip install '{requirement}'"
        )

"""The model an export reads: a built-in name (such as ``smollm2-135m-instruct``), a path or a
hub id."""

from __future__ import annotations

from infercore._plugins import get_plugin_manager

__all__ = ["resolve_model"]


def resolve_model(model: str) -> str:
    """A registered model name's folder, else ``model`` itself."""
    return get_plugin_manager().registry.resolve_model(model)

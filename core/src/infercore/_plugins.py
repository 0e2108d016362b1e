"""Loading plugins from the ``infercore`` entry-point group.

``INFERCORE_PLUGINS`` (a comma-separated list of entry-point or distribution
names) loads only those; ``INFERCORE_DISABLE_PLUGINS`` skips those. A plugin
that fails to import is reported with its distribution and the error, and the
others load as usual.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from importlib import metadata
from types import ModuleType

import pluggy

from infercore import _hookspec
from infercore._command import Command
from infercore._registry import BackendRegistry, BackendSpec, ModelAlias, RegisteredBackend

__all__ = ["PluginFailure", "PluginManager", "get_plugin_manager"]

ENTRY_POINT_GROUP = "infercore"


@dataclass(frozen=True)
class PluginFailure:
    """A plugin that could not be loaded."""

    name: str
    distribution: str | None
    error: str


@dataclass(frozen=True)
class _Origin:
    distribution: str | None
    version: str | None


def _names_from_env(variable: str) -> set[str] | None:
    value = os.environ.get(variable)
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


class PluginManager:
    """A typed facade over the pluggy manager and the registry built from it."""

    def __init__(self, *, autoload: bool = True) -> None:
        self._pm = pluggy.PluginManager(ENTRY_POINT_GROUP)
        self._pm.add_hookspecs(_hookspec)
        self._origins: dict[str, _Origin] = {}
        self._registry: BackendRegistry | None = None
        self._lock = threading.Lock()
        self.failures: list[PluginFailure] = []
        if autoload:
            self._load_entry_points()
        self._pm.check_pending()

    def _load_entry_points(self) -> None:
        allowed = _names_from_env("INFERCORE_PLUGINS")
        blocked = _names_from_env("INFERCORE_DISABLE_PLUGINS") or set()
        for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = entry_point.dist
            names = {entry_point.name} | ({dist.name} if dist is not None else set())
            if names & blocked or (allowed is not None and not names & allowed):
                continue
            try:
                # One entry point at a time, so that one plugin's failure is its own.
                self._pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP, name=entry_point.name)
                # Every plugin before this one passed, so a hook unknown to this core (a
                # plugin written for a newer one) is this plugin's: report it, not crash.
                self._pm.check_pending()
            except Exception as exc:
                if self._pm.get_plugin(entry_point.name) is not None:
                    self._pm.unregister(name=entry_point.name)
                self.failures.append(
                    PluginFailure(
                        entry_point.name,
                        dist.name if dist is not None else None,
                        f"{type(exc).__name__}: {exc}",
                    )
                )
        for plugin, loaded in self._pm.list_plugin_distinfo():
            name = self._pm.get_name(plugin)
            if name is not None:
                self._origins[name] = _Origin(loaded.project_name, loaded.version)

    def register(self, plugin: ModuleType | object, name: str) -> None:
        """Register a plugin object directly, as tests and embedding code do."""
        with self._lock:
            self._pm.register(plugin, name=name)
            self._pm.check_pending()
            self._registry = None

    def unregister(self, name: str) -> None:
        with self._lock:
            self._pm.unregister(name=name)
            self._registry = None

    def plugin_names(self) -> list[str]:
        return sorted(name for name, _ in self._pm.list_name_plugin())

    @property
    def registry(self) -> BackendRegistry:
        """Backends, models and parsers of every loaded plugin, built on first use."""
        with self._lock:
            if self._registry is None:
                self._registry = self._build_registry()
            return self._registry

    def _build_registry(self) -> BackendRegistry:
        registry = BackendRegistry()
        plugins = dict(self._pm.list_name_plugin())
        # Each plugin's hook is called on its own, so every backend is recorded
        # with the plugin (and distribution) that registered it.
        for impl in self._pm.hook.register_backends.get_hookimpls():
            name = impl.plugin_name
            origin = self._origins.get(name, _Origin(None, None))
            others = [plugin for other, plugin in plugins.items() if other != name]
            only_this = self._pm.subset_hook_caller("register_backends", remove_plugins=others)

            def add(spec: BackendSpec, plugin: str = name, at: _Origin = origin) -> None:
                registry.add_backend(RegisteredBackend(spec, plugin, at.distribution, at.version))

            only_this(register=add)

        def add_model(alias: ModelAlias) -> None:
            registry.add_model(alias)

        self._pm.hook.register_models(register=add_model)
        self._pm.hook.register_tool_parsers(register=registry.add_tool_parser)
        self._pm.hook.register_reasoning_parsers(register=registry.add_reasoning_parser)
        return registry

    def commands(self) -> list[Command]:
        """The subcommands every loaded plugin registers."""
        registered: list[Command] = []
        self._pm.hook.register_commands(register=registered.append)
        return registered


_manager: PluginManager | None = None
_manager_lock = threading.Lock()


def get_plugin_manager() -> PluginManager:
    """The process-wide plugin manager, loading the entry points on first use."""
    global _manager
    with _manager_lock:
        if _manager is None:
            _manager = PluginManager()
        return _manager

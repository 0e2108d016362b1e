"""What the plugins registered: backends by name, model aliases, and output parsers."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from infercore._backend import Backend, BackendOptions, Capabilities
from infercore._errors import (
    BackendNotInstalledError,
    BackendUnavailableError,
    InfercoreError,
    UnknownBackendError,
)
from infercore._parsers import ReasoningParserSpec, ToolParserSpec

__all__ = ["BackendRegistry", "BackendSpec", "ModelAlias", "RegisteredBackend"]

#: First-party backends that may be missing, with what installs each.
FIRST_PARTY_BACKENDS = {
    "pt": "infercore[pt]",
    "vllm": "infercore[vllm]",
    "lmdeploy": "infercore[lmdeploy]",
}


def _always_available() -> str | None:
    return None


def _no_quantization() -> Mapping[str, str | None]:
    return {}


@dataclass(frozen=True)
class BackendSpec:
    """A backend as a plugin registers it, without importing the engine.

    ``load`` imports and returns the :class:`Backend` class. ``probe`` is a
    cheap check (no torch import) that returns why the backend cannot run
    here, or ``None`` when it can. ``priority`` orders the candidates for
    ``backend="auto"``; ``None`` keeps the backend out of ``auto`` entirely.
    """

    name: str
    load: Callable[[], type[Backend[Any]]]
    capabilities: Capabilities
    options: type[BackendOptions] = BackendOptions
    probe: Callable[[], str | None] = _always_available
    priority: int | None = 0
    description: str = ""
    quantization: Callable[[], Mapping[str, str | None]] = _no_quantization


@dataclass(frozen=True)
class ModelAlias:
    """A short model name that ``resolve`` turns into a loadable path or hub id."""

    name: str
    resolve: Callable[[], str]
    description: str = ""


@dataclass
class RegisteredBackend:
    spec: BackendSpec
    plugin: str
    distribution: str | None = None
    version: str | None = None

    @cached_property
    def unavailable_reason(self) -> str | None:
        """Why the backend cannot run on this machine, or ``None``."""
        try:
            return self.spec.probe()
        except Exception as exc:  # a probe must never take the listing down
            return f"its availability check failed: {exc!r}"

    @cached_property
    def quantization(self) -> dict[str, str | None]:
        """The quantized checkpoints it loads, each with why not here (``None``: it can)."""
        try:
            return dict(self.spec.quantization())
        except Exception as exc:  # as with the probe: never take the listing down
            return {"?": f"its quantization check failed: {exc!r}"}

    @property
    def available(self) -> bool:
        return self.unavailable_reason is None

    def load(self) -> type[Backend[Any]]:
        if self.unavailable_reason is not None:
            raise BackendUnavailableError(self.spec.name, self.unavailable_reason)
        return self.spec.load()


@dataclass
class BackendRegistry:
    backends: dict[str, RegisteredBackend] = field(default_factory=dict)
    models: dict[str, ModelAlias] = field(default_factory=dict)
    tool_parsers: dict[str, ToolParserSpec] = field(default_factory=dict)
    reasoning_parsers: dict[str, ReasoningParserSpec] = field(default_factory=dict)

    def add_backend(self, entry: RegisteredBackend) -> None:
        name = entry.spec.name
        if name == "auto":
            raise InfercoreError(f"plugin {entry.plugin!r} may not name a backend 'auto'")
        if name in self.backends:
            raise InfercoreError(
                f"backend {name!r} is registered twice: by plugin "
                f"{self.backends[name].plugin!r} and by plugin {entry.plugin!r}"
            )
        self.backends[name] = entry

    def add_model(self, alias: ModelAlias) -> None:
        if alias.name in self.models:
            raise InfercoreError(f"model alias {alias.name!r} is registered twice")
        self.models[alias.name] = alias

    def add_tool_parser(self, spec: ToolParserSpec) -> None:
        _add_parser(self.tool_parsers, spec, "tool parser")

    def add_reasoning_parser(self, spec: ReasoningParserSpec) -> None:
        _add_parser(self.reasoning_parsers, spec, "reasoning parser")

    def get(self, name: str) -> RegisteredBackend:
        """The backend called ``name``, or an error that says what to do."""
        if name in self.backends:
            return self.backends[name]
        if name in FIRST_PARTY_BACKENDS:
            raise BackendNotInstalledError(name, FIRST_PARTY_BACKENDS[name])
        raise UnknownBackendError(name, list(self.backends))

    def choose(self, name: str) -> RegisteredBackend:
        """Resolve ``"auto"`` to the best available backend; any other name as :meth:`get`."""
        if name != "auto":
            return self.get(name)
        candidates = [
            entry
            for entry in self.backends.values()
            if entry.spec.priority is not None and entry.available
        ]
        if not candidates:
            raise InfercoreError(
                "no backend is available for backend='auto'; install one, for example: "
                "pip install 'infercore[pt]' (see `infercore backends`)"
            )
        return max(candidates, key=lambda entry: entry.spec.priority or 0)

    def resolve_model(self, model: str) -> str:
        """A registered alias's path, or ``model`` itself (a path or hub id)."""
        alias = self.models.get(model)
        return alias.resolve() if alias is not None else model


def _add_parser(
    table: dict[str, Any], spec: ToolParserSpec | ReasoningParserSpec, kind: str
) -> None:
    if spec.name == "auto":
        raise InfercoreError(f"a {kind} may not be named 'auto'")
    if spec.name in table:
        raise InfercoreError(f"{kind} {spec.name!r} is registered twice")
    table[spec.name] = spec

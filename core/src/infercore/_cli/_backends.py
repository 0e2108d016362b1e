"""``infercore backends``: what is installed, and whether each can run here and why not."""

from __future__ import annotations

import argparse
import sys

from infercore._command import Command
from infercore._plugins import get_plugin_manager
from infercore._registry import FIRST_PARTY_BACKENDS, RegisteredBackend

__all__ = ["BACKENDS"]


def _run(args: argparse.Namespace) -> int:
    manager = get_plugin_manager()
    registry = manager.registry
    for name in sorted(registry.backends):
        entry = registry.backends[name]
        origin = f"{entry.distribution} {entry.version}" if entry.distribution else entry.plugin
        state = "available" if entry.available else f"unavailable: {entry.unavailable_reason}"
        print(f"{name:<10} {origin:<28} {state}")
        if entry.spec.description:
            print(f"    {entry.spec.description}")
        print(f"    capabilities: {', '.join(entry.spec.capabilities.describe())}")
        if entry.quantization:
            print(f"    quantized checkpoints: {_quantization(entry)}")
        if args.verbose:
            for field, info in entry.spec.options.model_fields.items():
                default = info.get_default(call_default_factory=True, validated_data={})
                print(f"    -O {field}=... (default {default!r}) {info.description or ''}".rstrip())
    for name, requirement in FIRST_PARTY_BACKENDS.items():
        if name not in registry.backends:
            print(f"{name:<10} {'not installed':<28} pip install '{requirement}'")
    if registry.models:
        print("\nmodels:")
        for alias in registry.models.values():
            print(f"  {alias.name:<28} {alias.description}")
    for title, parsers in (
        ("tool-call parsers (--tool-call-parser)", registry.tool_parsers),
        ("reasoning parsers (--reasoning-parser)", registry.reasoning_parsers),
    ):
        if parsers:
            print(f"\n{title}:")
            for spec in parsers.values():
                print(f"  {spec.name:<28} {spec.description}")
    for failure in manager.failures:
        origin = f" (distribution {failure.distribution})" if failure.distribution else ""
        print(f"\nplugin {failure.name!r}{origin} failed to load: {failure.error}", file=sys.stderr)
    return 0


def _quantization(entry: RegisteredBackend) -> str:
    """``awq, gptq; not here: fp8 (needs a CUDA GPU)``; for a backend that cannot run
    here, only the names: its own reason, on its first line, covers them all."""
    methods = sorted(entry.quantization.items())
    if not entry.available:
        return ", ".join(name for name, _ in methods) + " (where it runs)"
    runs = [name for name, reason in methods if reason is None]
    missing = [f"{name} ({reason})" for name, reason in methods if reason]
    parts = [", ".join(runs)] if runs else ["none here"]
    if missing:
        parts.append("not here: " + ", ".join(missing))
    return "; ".join(parts)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-v", "--verbose", action="store_true", help="show each backend's options")


BACKENDS = Command("backends", "list backends and whether each can run here", _add_arguments, _run)

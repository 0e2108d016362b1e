"""Shared setup for the core's tests: no plugin autoload, the fake backend registered.

The core's own tests must not depend on which plugins this environment has, so entry-point
autoload is switched off before anything builds the process-wide plugin manager. The fake
backend is registered directly; the example third-party backend, where installed, is
registered through its real entry point.
"""

from __future__ import annotations

import os

os.environ["INFERCORE_PLUGINS"] = ""

from collections.abc import Iterator
from importlib import metadata

import pytest

import infercore
from infercore.testing import fake_plugin

EXAMPLE_DISTRIBUTION = "infercore-example-backend"
EXAMPLE_MISSING = (
    f"{EXAMPLE_DISTRIBUTION} is not installed: pip install -e tests/core/thirdparty_backend"
)


def _example_entry_point() -> metadata.EntryPoint | None:
    """The example distribution's entry point in the ``infercore`` group, if installed."""
    for entry_point in metadata.entry_points(group="infercore"):
        if entry_point.dist is not None and entry_point.dist.name == EXAMPLE_DISTRIBUTION:
            return entry_point
    return None


@pytest.fixture(scope="session", autouse=True)
def registered_plugins() -> Iterator[None]:
    """The fake backend (and the example one, if installed) in the process-wide manager."""
    manager = infercore.get_plugin_manager()
    assert manager.plugin_names() == [], "plugin autoload should be off for the core's tests"
    names = ["fake"]
    manager.register(fake_plugin, name="fake")
    entry_point = _example_entry_point()
    if entry_point is not None:
        manager.register(entry_point.load(), name=entry_point.name)
        names.append(entry_point.name)
    yield
    for name in names:
        manager.unregister(name)


@pytest.fixture(scope="session")
def example_distribution() -> metadata.Distribution:
    """The installed example third-party distribution; its tests skip without it."""
    try:
        return metadata.distribution(EXAMPLE_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        pytest.skip(EXAMPLE_MISSING)


@pytest.fixture(scope="module")
def fake_engine() -> Iterator[infercore.Engine]:
    """A fake-backend engine shared by a module's tests."""
    with infercore.Engine("fake", backend="fake") as engine:
        yield engine

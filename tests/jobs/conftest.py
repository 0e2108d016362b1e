"""Dataset-job tests: an engine on the core's fake backend, from a plugin manager of its own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import infercore
from infercore.testing import fake_plugin


def fake_plugins() -> infercore.PluginManager:
    """A plugin manager that knows the fake backend and nothing installed."""
    manager = infercore.PluginManager(autoload=False)
    manager.register(fake_plugin, name="fake")
    return manager


@pytest.fixture(scope="module")
def fake_engine() -> Iterator[infercore.Engine]:
    with infercore.Engine("fake", backend="fake", plugins=fake_plugins(), max_model_len=256) as e:
        yield e

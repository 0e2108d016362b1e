"""The plugin manager: entry points, allow and block lists, broken plugins, duplicates.

Plugins here are real distributions: a ``*.dist-info`` folder with METADATA and
entry_points.txt, put on sys.path so that importlib.metadata finds them as it finds
installed ones.
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import infercore
from infercore import BackendSpec, Capabilities, InfercoreError, PluginFailure, hookimpl
from infercore.testing import FakeBackend, FakeOptions

GOOD_PLUGIN = """
from infercore import BackendSpec, Capabilities, hookimpl
from infercore.testing import FakeBackend, FakeOptions

@hookimpl
def register_backends(register):
    register(BackendSpec({backend!r}, load=lambda: FakeBackend, capabilities=Capabilities(),
                         options=FakeOptions, priority=None))
"""

AddDist = Callable[..., str]


@pytest.fixture
def add_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[AddDist]:
    """Install a one-module distribution on sys.path; returns the module's name."""
    monkeypatch.syspath_prepend(str(tmp_path))
    modules: list[str] = []

    def add(distribution: str, entry_point: str, source: str, version: str = "1.0") -> str:
        module = f"icplugin_{entry_point.replace('-', '_')}_{uuid.uuid4().hex[:8]}"
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
        info = tmp_path / f"{distribution.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n"
        )
        (info / "entry_points.txt").write_text(f"[infercore]\n{entry_point} = {module}\n")
        modules.append(module)
        return module

    yield add
    for module in modules:
        sys.modules.pop(module, None)


@pytest.fixture
def three_dists(add_dist: AddDist) -> None:
    add_dist("infercore-test-alpha", "alpha", GOOD_PLUGIN.format(backend="alpha-backend"), "1.2.3")
    add_dist("infercore-test-beta", "beta", GOOD_PLUGIN.format(backend="beta-backend"))
    add_dist("infercore-test-broken", "broken", "raise ImportError('needs libwidget 2')\n")


def _manager(
    monkeypatch: pytest.MonkeyPatch, allow: str | None = None, block: str | None = None
) -> infercore.PluginManager:
    for variable, value in (("INFERCORE_PLUGINS", allow), ("INFERCORE_DISABLE_PLUGINS", block)):
        if value is None:
            monkeypatch.delenv(variable, raising=False)
        else:
            monkeypatch.setenv(variable, value)
    return infercore.PluginManager()


OURS = {"alpha", "beta", "broken"}


@pytest.mark.usefixtures("three_dists")
def test_entry_points_load_with_their_distribution_and_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    manager = _manager(monkeypatch, allow="alpha,beta")

    assert manager.plugin_names() == ["alpha", "beta"]
    entry = manager.registry.backends["alpha-backend"]
    assert (entry.plugin, entry.distribution, entry.version) == (
        "alpha",
        "infercore-test-alpha",
        "1.2.3",
    )
    assert manager.registry.get("beta-backend").distribution == "infercore-test-beta"


@pytest.mark.usefixtures("three_dists")
def test_allow_list_loads_only_the_named_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    manager = _manager(monkeypatch, allow="beta")

    assert manager.plugin_names() == ["beta"]
    assert list(manager.registry.backends) == ["beta-backend"]
    assert manager.failures == []


@pytest.mark.usefixtures("three_dists")
def test_allow_list_takes_distribution_names_and_ignores_blanks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    manager = _manager(monkeypatch, allow=" infercore-test-alpha , ,")

    assert manager.plugin_names() == ["alpha"]


@pytest.mark.usefixtures("three_dists")
def test_empty_allow_list_loads_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    manager = _manager(monkeypatch, allow="")

    assert manager.plugin_names() == []
    assert manager.registry.backends == {}


@pytest.mark.usefixtures("three_dists")
def test_block_list_skips_the_named_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    manager = _manager(monkeypatch, block="beta,infercore-test-broken")

    names = set(manager.plugin_names())
    assert "alpha" in names
    assert not names & {"beta", "broken"}
    assert [failure.name for failure in manager.failures if failure.name in OURS] == []


@pytest.mark.usefixtures("three_dists")
def test_block_list_wins_over_the_allow_list(monkeypatch: pytest.MonkeyPatch) -> None:
    manager = _manager(monkeypatch, allow="alpha,beta", block="infercore-test-alpha")

    assert manager.plugin_names() == ["beta"]


@pytest.mark.usefixtures("three_dists")
def test_broken_plugin_is_reported_with_its_distribution_and_others_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    manager = _manager(monkeypatch, allow="alpha,beta,broken")

    assert manager.plugin_names() == ["alpha", "beta"]
    assert manager.failures == [
        PluginFailure("broken", "infercore-test-broken", "ImportError: needs libwidget 2")
    ]
    assert set(manager.registry.backends) == {"alpha-backend", "beta-backend"}


def test_plugin_with_a_hook_unknown_to_this_core_is_reported_not_fatal(
    monkeypatch: pytest.MonkeyPatch, add_dist: AddDist
) -> None:
    # A plugin written for a newer core may implement a hook this one lacks.
    add_dist("infercore-test-alpha", "alpha", GOOD_PLUGIN.format(backend="alpha-backend"))
    add_dist(
        "infercore-test-future",
        "future",
        "from infercore import hookimpl\n\n@hookimpl\ndef register_widgets(register):\n    pass\n",
    )

    manager = _manager(monkeypatch, allow="alpha,future")

    assert manager.plugin_names() == ["alpha"]
    (failure,) = manager.failures
    assert (failure.name, failure.distribution) == ("future", "infercore-test-future")
    assert "register_widgets" in failure.error
    assert list(manager.registry.backends) == ["alpha-backend"]


def test_plugin_with_a_wrong_hook_signature_is_reported_not_fatal(
    monkeypatch: pytest.MonkeyPatch, add_dist: AddDist
) -> None:
    add_dist(
        "infercore-test-typo",
        "typo",
        "from infercore import hookimpl\n\n@hookimpl\ndef register_backends(registr):\n    pass\n",
    )

    manager = _manager(monkeypatch, allow="typo")

    assert manager.plugin_names() == []
    assert [(f.name, f.distribution) for f in manager.failures] == [("typo", "infercore-test-typo")]


# -- duplicates and direct registration -------------------------------------------------------


class _Registers:
    def __init__(self, *names: str) -> None:
        self.names = names

    @hookimpl
    def register_backends(self, register: Callable[[BackendSpec], None]) -> None:
        for name in self.names:
            register(
                BackendSpec(
                    name, load=lambda: FakeBackend, capabilities=Capabilities(), options=FakeOptions
                )
            )


def test_backend_registered_twice_is_an_error_naming_both_plugins() -> None:
    manager = infercore.PluginManager(autoload=False)
    manager.register(_Registers("twin"), name="first-plugin")
    manager.register(_Registers("twin"), name="second-plugin")

    with pytest.raises(InfercoreError, match="registered twice") as caught:
        _ = manager.registry

    assert "'first-plugin'" in str(caught.value)
    assert "'second-plugin'" in str(caught.value)


def test_backend_may_not_be_named_auto() -> None:
    manager = infercore.PluginManager(autoload=False)
    manager.register(_Registers("auto"), name="greedy-plugin")

    with pytest.raises(InfercoreError, match="'greedy-plugin' may not name a backend 'auto'"):
        _ = manager.registry


def test_registry_is_rebuilt_after_register_and_unregister() -> None:
    manager = infercore.PluginManager(autoload=False)
    manager.register(_Registers("one"), name="p1")
    assert list(manager.registry.backends) == ["one"]

    manager.register(_Registers("two"), name="p2")
    assert set(manager.registry.backends) == {"one", "two"}

    manager.unregister("p1")
    assert list(manager.registry.backends) == ["two"]
    assert manager.registry.backends["two"].plugin == "p2"


def test_directly_registered_plugin_has_no_distribution() -> None:
    manager = infercore.PluginManager(autoload=False)
    manager.register(_Registers("solo"), name="embedded")

    entry = manager.registry.get("solo")
    assert (entry.plugin, entry.distribution, entry.version) == ("embedded", None, None)


class _GreetingCommands:
    """A plugin adding one subcommand, as a third party's would."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.greeted: list[str] = []

    @infercore.hookimpl
    def register_commands(self, register: Callable[[infercore.Command], None]) -> None:
        def add_arguments(parser: argparse.ArgumentParser) -> None:
            parser.add_argument("--who", required=True)

        def run(args: argparse.Namespace) -> int:
            self.greeted.append(args.who)
            return 3

        register(infercore.Command(self.name, "greet someone", add_arguments, run))


def test_a_plugin_command_runs_with_its_own_flags() -> None:
    from infercore._cli import main

    plugin = _GreetingCommands("greet")
    manager = infercore.get_plugin_manager()
    manager.register(plugin, name="greetings")
    try:
        assert main(["greet", "--who", "ada"]) == 3
    finally:
        manager.unregister("greetings")

    assert plugin.greeted == ["ada"]


def test_a_plugin_command_may_not_take_a_builtin_name(capsys: pytest.CaptureFixture[str]) -> None:
    from infercore._cli import main

    manager = infercore.get_plugin_manager()
    manager.register(_GreetingCommands("deploy"), name="impostor")
    try:
        assert main(["backends"]) == 2
    finally:
        manager.unregister("impostor")

    assert "the subcommand 'deploy' is registered twice" in capsys.readouterr().err


class _Quantized:
    @hookimpl
    def register_backends(self, register: Callable[[BackendSpec], None]) -> None:
        register(
            BackendSpec(
                "quantized-fake",
                load=lambda: FakeBackend,
                capabilities=Capabilities(),
                options=FakeOptions,
                quantization=lambda: {"gptq": None, "awq": None, "fp8": "needs a CUDA GPU"},
            )
        )
        register(
            BackendSpec(
                "quantized-elsewhere",
                load=lambda: FakeBackend,
                capabilities=Capabilities(),
                options=FakeOptions,
                probe=lambda: "needs an accelerator this machine lacks",
                quantization=lambda: {"gptq": None, "awq": None},
            )
        )


def test_backends_lists_the_quantized_checkpoints_each_loads_here(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from infercore._cli import main

    manager = infercore.get_plugin_manager()
    manager.register(_Quantized(), name="quantized")
    try:
        assert main(["backends"]) == 0
        assert manager.registry.backends["quantized-fake"].quantization["awq"] is None
    finally:
        manager.unregister("quantized")

    listing = capsys.readouterr().out
    assert "quantized checkpoints: awq, gptq; not here: fp8 (needs a CUDA GPU)" in listing
    # A backend that cannot run here: the methods it loads where it runs, its reason once.
    assert "quantized checkpoints: awq, gptq (where it runs)" in listing
    assert listing.count("needs an accelerator this machine lacks") == 1

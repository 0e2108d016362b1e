"""Choosing a backend: what the user is told when the name, the install or an option is wrong."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

import infercore
from infercore import (
    BackendNotInstalledError,
    BackendSpec,
    BackendUnavailableError,
    Capabilities,
    InfercoreError,
    InvalidRequestError,
    UnknownBackendError,
    hookimpl,
)
from infercore._registry import BackendRegistry, RegisteredBackend
from infercore.testing import FakeBackend, FakeOptions


def _spec(
    name: str, *, priority: int | None = 0, probe: Callable[[], str | None] | None = None
) -> BackendSpec:
    return BackendSpec(
        name,
        load=lambda: FakeBackend,
        capabilities=Capabilities(),
        options=FakeOptions,
        probe=probe or (lambda: None),
        priority=priority,
    )


def _registry(*specs: BackendSpec) -> BackendRegistry:
    registry = BackendRegistry()
    for spec in specs:
        registry.add_backend(RegisteredBackend(spec, plugin=f"{spec.name}-plugin"))
    return registry


def _no_gpu() -> str:
    return "no CUDA device found"


def _crashing_probe() -> str | None:
    raise OSError("driver exploded")


class _Unavailable:
    @hookimpl
    def register_backends(self, register: Callable[[BackendSpec], None]) -> None:
        register(_spec("gpu-only", priority=5, probe=_no_gpu))


@pytest.fixture
def unavailable_backend() -> Iterator[None]:
    manager = infercore.get_plugin_manager()
    manager.register(_Unavailable(), name="test-unavailable")
    yield
    manager.unregister("test-unavailable")


# -- names ------------------------------------------------------------------------------------


def test_unknown_backend_lists_the_installed_ones() -> None:
    with pytest.raises(UnknownBackendError) as caught:
        infercore.Engine("fake", backend="tensorrt")

    message = str(caught.value)
    assert "unknown backend 'tensorrt'" in message
    assert "installed backends:" in message
    assert "fake" in message
    assert "fake" in caught.value.installed


def test_unknown_backend_with_nothing_installed_says_none() -> None:
    with pytest.raises(UnknownBackendError, match="installed backends: none"):
        BackendRegistry().get("tensorrt")


@pytest.mark.parametrize("name", ["pt", "vllm", "lmdeploy"])
def test_first_party_backend_not_installed_gives_the_pip_command(name: str) -> None:
    with pytest.raises(BackendNotInstalledError) as caught:
        infercore.Engine("some/model", backend=name)

    assert f"pip install 'infercore[{name}]'" in str(caught.value)
    assert caught.value.pip_requirement == f"infercore[{name}]"


@pytest.mark.usefixtures("unavailable_backend")
def test_installed_but_unavailable_backend_says_why() -> None:
    with pytest.raises(BackendUnavailableError, match="no CUDA device found") as caught:
        infercore.Engine("some/model", backend="gpu-only")

    assert caught.value.reason == "no CUDA device found"


def test_crashing_probe_makes_the_backend_unavailable_instead_of_raising() -> None:
    registry = _registry(_spec("flaky", probe=_crashing_probe))

    entry = registry.get("flaky")

    assert not entry.available
    assert "driver exploded" in str(entry.unavailable_reason)
    with pytest.raises(BackendUnavailableError, match="driver exploded"):
        entry.load()


# -- options ----------------------------------------------------------------------------------


def test_unknown_backend_option_is_refused_naming_it() -> None:
    with pytest.raises(InvalidRequestError, match="bogus_flag") as caught:
        infercore.Engine("fake", backend="fake", bogus_flag=1)

    assert caught.value.param == "bogus_flag"
    assert "options for backend 'fake'" in str(caught.value)


def test_backend_option_of_the_wrong_type_is_refused_naming_it() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        infercore.Engine("fake", backend="fake", max_model_len="lots")

    assert caught.value.param == "max_model_len"


def test_backend_option_out_of_range_is_refused_naming_it() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        infercore.Engine("fake", backend="fake", token_delay=-1.0)

    assert caught.value.param == "token_delay"


def test_valid_backend_options_reach_the_backend() -> None:
    with infercore.Engine("fake", backend="fake", max_model_len=99) as engine:
        assert engine.backend.max_model_len == 99
        assert engine.backend.options == FakeOptions(max_model_len=99)


# -- auto ---------------------------------------------------------------------------------------


def test_auto_with_no_backend_available_is_a_clear_error() -> None:
    # The fake backend is registered but, like the example one, stays out of "auto".
    with pytest.raises(InfercoreError, match="no backend is available for backend='auto'") as c:
        infercore.Engine("some/model")

    assert "pip install 'infercore[pt]'" in str(c.value)
    assert "infercore backends" in str(c.value)


@pytest.mark.usefixtures("unavailable_backend")
def test_auto_skips_an_unavailable_backend() -> None:
    with pytest.raises(InfercoreError, match="no backend is available"):
        infercore.Engine("some/model", backend="auto")


def test_auto_picks_the_available_backend_of_highest_priority() -> None:
    registry = _registry(
        _spec("low", priority=1),
        _spec("high-but-unavailable", priority=9, probe=_no_gpu),
        _spec("mid", priority=5),
        _spec("never-auto", priority=None),
    )

    assert registry.choose("auto").spec.name == "mid"
    assert registry.choose("never-auto").spec.name == "never-auto"

"""Local files: refused by default; inside the allowed folder only, after following links."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infercore._media import (
    MediaError,
    MediaFetchError,
    MediaLimits,
    MediaRefusedError,
    MediaTooLargeError,
    read_source,
)
from infercore._media._local import file_url_to_path, read_local_file, resolve_local_path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """``allowed/`` with a file, a link inside, a link escaping, and ``outside/secret``."""
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    (allowed / "sub").mkdir(parents=True)
    outside.mkdir()
    (allowed / "sub" / "a.bin").write_bytes(b"inside")
    (outside / "secret").write_bytes(b"secret")
    (allowed / "inner-link").symlink_to(allowed / "sub" / "a.bin")
    (allowed / "escape").symlink_to(outside / "secret")
    (allowed / "escape-dir").symlink_to(outside, target_is_directory=True)
    return tmp_path


def reason_of(error: pytest.ExceptionInfo[MediaError]) -> str:
    return error.value.reason


def test_local_files_are_refused_unless_a_folder_is_allowed(tree: Path) -> None:
    path = tree / "allowed" / "sub" / "a.bin"
    for source in (str(path), path, path.as_uri()):
        with pytest.raises(MediaRefusedError) as refused:
            read_local_file(
                file_url_to_path(str(source)) if "file:" in str(source) else source, None, 100
            )
        assert reason_of(refused) == "local_path_not_allowed"
        assert "allowed_local_media_path" in str(refused.value)


def test_files_inside_the_folder_are_read(tree: Path) -> None:
    root = tree / "allowed"
    assert read_local_file(root / "sub" / "a.bin", root, 100) == b"inside"
    # A link that stays inside is fine: the check is on where it leads.
    assert read_local_file(root / "inner-link", root, 100) == b"inside"
    assert read_local_file(str(root / "sub" / ".." / "sub" / "a.bin"), root, 100) == b"inside"


@pytest.mark.parametrize(
    "relative", ["../outside/secret", "sub/../../outside/secret", "escape", "escape-dir/secret"]
)
def test_paths_leaving_the_folder_are_refused(tree: Path, relative: str) -> None:
    root = tree / "allowed"
    with pytest.raises(MediaRefusedError) as refused:
        read_local_file(root / relative, root, 100)
    assert reason_of(refused) == "local_path_not_allowed"
    assert "outside the allowed folder" in str(refused.value)


def test_a_folder_given_through_a_link_is_resolved_too(tree: Path) -> None:
    (tree / "root-link").symlink_to(tree / "allowed", target_is_directory=True)
    root = tree / "root-link"
    assert read_local_file(root / "sub" / "a.bin", root, 100) == b"inside"
    with pytest.raises(MediaRefusedError):
        read_local_file(root / "escape", root, 100)


def test_relative_paths_are_relative_to_the_working_directory(
    tree: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tree / "allowed")
    assert (
        resolve_local_path("sub/a.bin", tree / "allowed")
        == (tree / "allowed" / "sub" / "a.bin").resolve()
    )


def test_missing_files_directories_and_fifos(tree: Path) -> None:
    root = tree / "allowed"
    with pytest.raises(MediaFetchError) as missing:
        read_local_file(root / "nope.png", root, 100)
    assert reason_of(missing) == "not_found"
    with pytest.raises(MediaRefusedError):
        read_local_file(root / "sub", root, 100)
    if hasattr(os, "mkfifo"):
        os.mkfifo(root / "fifo")
        # Opening a FIFO would block until a writer came; it must be refused at once.
        with pytest.raises(MediaRefusedError, match="not a regular file"):
            read_local_file(root / "fifo", root, 100)


def test_byte_cap(tree: Path) -> None:
    root = tree / "allowed"
    with pytest.raises(MediaTooLargeError) as too_large:
        read_local_file(root / "sub" / "a.bin", root, 5)
    assert reason_of(too_large) == "too_large"
    assert read_local_file(root / "sub" / "a.bin", root, 6) == b"inside"


def test_file_urls(tree: Path) -> None:
    path = tree / "allowed" / "sub" / "a b.bin"
    path.write_bytes(b"spaced")
    assert file_url_to_path(path.as_uri()) == str(path)
    assert file_url_to_path("file://localhost/tmp/x") == "/tmp/x"
    with pytest.raises(MediaRefusedError) as refused:
        file_url_to_path("file://fileserver/share/x.png")
    assert reason_of(refused) == "local_path_not_allowed"


async def test_read_source_takes_paths_and_file_urls_only_where_allowed(tree: Path) -> None:
    root = tree / "allowed"
    path = root / "sub" / "a.bin"
    allowed = MediaLimits(allowed_local_media_path=root)
    for source in (str(path), path, path.as_uri()):
        assert await read_source(source, "image", allowed) == b"inside"
        with pytest.raises(MediaRefusedError):
            await read_source(source, "image", MediaLimits())
    with pytest.raises(MediaRefusedError):
        await read_source((root / "escape").as_uri(), "image", allowed)


@pytest.mark.parametrize(
    "name",
    ["sub/a.bin\0/../x", "sub/a.bin\0", "\udcff\ud800", "a" * 5000, "sub/" + "b" * 300],
)
def test_a_path_no_file_can_have_is_refused_as_a_path(tree: Path, name: str) -> None:
    with pytest.raises(MediaError) as refused:
        read_local_file(str(tree / "allowed") + "/" + name, tree / "allowed", 1024)
    assert refused.value.reason in ("local_path_not_allowed", "not_found")


async def test_a_nul_byte_in_a_file_url_is_refused(tree: Path) -> None:
    limits = MediaLimits(allowed_local_media_path=tree / "allowed")
    url = f"file://{tree / 'allowed' / 'sub' / 'a.bin'}%00/.."
    with pytest.raises(MediaRefusedError) as refused:
        await read_source(url, "image", limits)
    assert refused.value.reason == "local_path_not_allowed"


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.text(), raw=st.binary())
def test_any_path_string_ends_in_a_media_error_or_the_file(
    tree: Path, name: str, raw: bytes
) -> None:
    root = tree / "allowed"
    for candidate in (name, str(root) + "/" + name, raw.decode("utf-8", "surrogateescape")):
        try:
            data = read_local_file(candidate, root, 1024)
        except MediaError:
            continue
        assert data == b"inside"

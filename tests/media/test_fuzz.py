"""Every parser of a media source, fed any string: a result or a MediaError, nothing else.

NUL bytes, lone surrogates, invalid UTF-8 smuggled in through percent-escapes or
``surrogateescape`` and overlong input are what crashed parsers before; the strategies
below lean towards the characters that steer each parser (schemes, separators, escapes).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from infercore._media import MediaError, MediaLimits, MediaRefusedError, classify_source
from infercore._media._local import file_url_to_path
from infercore._media._policy import check_url
from infercore._media._source import decode_base64, decode_data_uri, read_source

FUZZ = settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

_PIECES = st.sampled_from(
    [
        "http://", "https://", "file://", "data:", ";base64,", "ftp://", "//", "/", "./",
        "../", "~", "C:\\", "%00", "%2e%2e", "%ff", "%", "@", ":", "[", "]", "::1", "#", "?",
        "\0", "\ud800", "\udcff", "\u202e", "\uff0e", "xn--", "localhost", "127.0.0.1",
        "=", "+", "-", "_", "/9j/", "a" * 300,
    ]
)  # fmt: skip
#: Strings built from parser-steering pieces mixed with any text.
SOURCES = st.lists(st.one_of(_PIECES, st.text(max_size=20)), max_size=8).map("".join) | st.text()
#: Bytes that are not UTF-8, the way os.fsdecode hands them to Python.
UNDECODABLE = st.binary(max_size=64).map(lambda raw: raw.decode("utf-8", "surrogateescape"))


@FUZZ
@given(text=SOURCES | UNDECODABLE)
def test_classify_source(text: str, tmp_path: Path) -> None:
    try:
        kind = classify_source(text, local_root=tmp_path)
    except MediaRefusedError:
        return
    assert kind in ("url", "data_uri", "file_url", "base64", "path")


@FUZZ
@given(text=SOURCES | UNDECODABLE)
def test_check_url(text: str) -> None:
    try:
        target = check_url(text, None)
    except MediaRefusedError:
        return
    assert target.url.scheme in ("http", "https")
    assert target.host
    assert "\0" not in target.host


@FUZZ
@given(text=SOURCES | UNDECODABLE, cap=st.integers(0, 4096))
def test_decoders(text: str, cap: int) -> None:
    for decode in (decode_base64, decode_data_uri):
        try:
            data = decode(text, cap)
        except MediaError:
            continue
        assert len(data) <= cap


@FUZZ
@given(text=SOURCES | UNDECODABLE)
def test_file_url_to_path(text: str) -> None:
    try:
        path = file_url_to_path(text)
    except MediaRefusedError:
        return
    assert isinstance(path, str)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "ok.png").write_bytes(b"inside")
    return tmp_path


@FUZZ
@given(text=SOURCES | UNDECODABLE)
async def test_read_source(text: str, root: Path) -> None:
    """The whole path a request's source takes; URLs end at the address rules or the
    loopback guard, so nothing leaves this machine."""
    limits = MediaLimits(allowed_local_media_path=root, image_max_bytes=1024)
    for source in (text, f"{root}/{text}", f"file://{root}/{text}"):
        try:
            data = await read_source(source, "image", limits)
        except MediaError:
            continue
        assert len(data) <= 1024

"""Telling sources apart, and decoding base64 and data URIs under the byte cap."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from infercore._media import (
    MediaDecodeError,
    MediaLimits,
    MediaRefusedError,
    MediaTooLargeError,
    classify_source,
    read_source,
)
from infercore._media._source import decode_base64, decode_data_uri

PAYLOAD = bytes(range(256)) * 4
B64 = base64.b64encode(PAYLOAD).decode()


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("http://example.com/a.png", "url"),
        ("HTTPS://example.com/a.png", "url"),
        ("data:image/png;base64,AAAA", "data_uri"),
        ("file:///tmp/a.png", "file_url"),
        (B64, "base64"),
        (base64.urlsafe_b64encode(PAYLOAD).decode().rstrip("="), "base64"),
        ("/tmp/a.png", "path"),
        ("images/cat.jpg", "path"),
        ("./a", "path"),
        ("/tmp/pytest-of-root/a_b", "path"),
        ("C:\\images\\cat.png", "path"),
        # Spelled as paths though every character is base64's too.
        ("/etc/passwd", "path"),
        ("/usr/share/dict/words", "path"),
        ("~/secret", "path"),
        ("../etc/passwd", "path"),
        # A JPEG's base64 begins with "/9j/".
        (base64.b64encode(b"\xff\xd8\xff\xe0" + PAYLOAD).decode(), "base64"),
    ],
)
def test_classify(text: str, kind: str) -> None:
    assert classify_source(text) == kind


@pytest.mark.parametrize("text", ["ftp://example.com/a.png", "s3://bucket/a.png", "gopher://x/"])
def test_other_url_schemes_are_refused(text: str) -> None:
    with pytest.raises(MediaRefusedError) as refused:
        classify_source(text)
    assert refused.value.reason == "scheme_not_allowed"


def test_a_file_inside_the_allowed_folder_wins_over_base64(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # "abcd" is valid base64 too; a file of that name inside the allowed folder is a path.
    monkeypatch.chdir(tmp_path)
    (tmp_path / "abcd").write_bytes(b"x")
    assert classify_source("abcd") == "base64"
    assert classify_source("abcd", local_root=tmp_path) == "path"
    # Outside the allowed folder existence is never looked at: it stays base64.
    assert classify_source("abcd", local_root=tmp_path / "elsewhere") == "base64"


def test_base64_forms() -> None:
    assert decode_base64(B64, 10_000) == PAYLOAD
    assert decode_base64(B64.rstrip("="), 10_000) == PAYLOAD
    assert (
        decode_base64("\n".join(B64[i : i + 76] for i in range(0, len(B64), 76)), 10_000) == PAYLOAD
    )
    assert decode_base64(base64.urlsafe_b64encode(PAYLOAD).decode(), 10_000) == PAYLOAD


def test_base64_over_the_cap_is_refused_before_decoding() -> None:
    with pytest.raises(MediaTooLargeError) as too_large:
        decode_base64("!" * 4000, 1000)  # not even valid: the size alone refuses it
    assert too_large.value.reason == "too_large"
    assert too_large.value.status == 413


def test_invalid_base64() -> None:
    with pytest.raises(MediaDecodeError) as invalid:
        decode_base64("abc$", 100)
    assert invalid.value.reason == "invalid_media"


def test_data_uris() -> None:
    assert decode_data_uri(f"data:image/png;base64,{B64}", 10_000) == PAYLOAD
    assert decode_data_uri(f"data:;BASE64,{B64}", 10_000) == PAYLOAD
    assert decode_data_uri("data:text/plain,a%20b", 100) == b"a b"
    with pytest.raises(MediaDecodeError):
        decode_data_uri("data:image/png;base64", 100)
    with pytest.raises(MediaTooLargeError):
        decode_data_uri(f"data:image/png;base64,{B64}", 100)


async def test_read_source_applies_the_modality_cap() -> None:
    limits = MediaLimits(image_max_bytes=100, audio_max_bytes=10_000)
    with pytest.raises(MediaTooLargeError):
        await read_source(B64, "image", limits)
    with pytest.raises(MediaTooLargeError):
        await read_source(PAYLOAD, "image", limits)
    assert await read_source(B64, "audio", limits) == PAYLOAD
    assert await read_source(PAYLOAD, "audio", limits) == PAYLOAD


async def test_a_plain_string_is_a_path_and_refused_without_a_folder() -> None:
    with pytest.raises(MediaRefusedError) as refused:
        await read_source("/etc/hostname", "image", MediaLimits())
    assert refused.value.reason == "local_path_not_allowed"

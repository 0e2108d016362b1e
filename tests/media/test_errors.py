"""Media errors: reasons, statuses, messages, and where they sit among infercore's errors."""

from __future__ import annotations

import typing

import pytest

import infercore
from infercore._media import (
    MediaCountError,
    MediaDecodeError,
    MediaDependencyError,
    MediaError,
    MediaFetchError,
    MediaReason,
    MediaRefusedError,
    MediaTimeoutError,
    MediaTooLargeError,
    _errors,
)


@pytest.mark.parametrize(
    ("kind", "reason", "status"),
    [
        (MediaRefusedError, "address_not_allowed", 400),
        (MediaFetchError, "fetch_failed", 400),
        (MediaDecodeError, "invalid_media", 400),
        (MediaCountError, "too_many_items", 400),
        (MediaTooLargeError, "too_large", 413),
        (MediaTimeoutError, "fetch_timeout", 400),
    ],
)
def test_each_kind_has_a_status_and_names_its_reason(
    kind: type[MediaError], reason: MediaReason, status: int
) -> None:
    error = kind("something happened", reason=reason)
    assert error.status == status
    assert error.reason == reason
    assert str(error) == f"something happened [reason: {reason}]"
    # A server that knows nothing of media still answers 400, never 500.
    assert isinstance(error, infercore.InvalidRequestError)
    assert isinstance(error, infercore.InfercoreError)


def test_every_reason_is_documented_in_the_status_table() -> None:
    assert _errors.__doc__ is not None
    for reason in typing.get_args(MediaReason):
        assert f"``{reason}``" in _errors.__doc__


def test_missing_dependency_names_the_extra() -> None:
    error = MediaDependencyError("loading videos", "decord", "video")
    assert "pip install 'infercore[video]'" in str(error)
    assert isinstance(error, ImportError)
    assert isinstance(error, infercore.InfercoreError)
    assert not isinstance(error, MediaError)  # the server's fault: not a 4xx

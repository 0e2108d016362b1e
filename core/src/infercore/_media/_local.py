"""Local media files: refused unless a folder is allowed, and then confined to it."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

from infercore._media._errors import (
    MediaFetchError,
    MediaRefusedError,
    MediaTooLargeError,
)

__all__ = ["file_url_to_path", "read_local_file", "resolve_local_path"]


def file_url_to_path(url: str) -> str:
    """The path of a ``file://`` URL; only ``file:///...`` and ``file://localhost/...``."""
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # an unclosed "[" in the host, for one
        raise MediaRefusedError(
            f"refused the file URL {url[:200]!r}: it is not a valid URL ({exc})",
            reason="invalid_url",
        ) from exc
    if parts.netloc not in ("", "localhost"):
        raise MediaRefusedError(
            f"refused the file URL {url[:200]!r}: only local files (file:///path) are read",
            reason="local_path_not_allowed",
        )
    return unquote(parts.path)


def _refused(path: str | os.PathLike[str], why: str) -> MediaRefusedError:
    return MediaRefusedError(
        f"refused to read the local file {os.fspath(path)[:300]!r}: {why}",
        reason="local_path_not_allowed",
    )


def resolve_local_path(path: str | os.PathLike[str], root: Path | None) -> Path:
    """The real path of ``path`` (symlinks followed), which must lie inside ``root``.

    Relative paths are relative to the working directory. ``root`` ``None`` means local
    files are not allowed at all. Nothing is opened; a missing file is not an error here
    (``read_local_file`` reports it), but the check is made on the path it would have.
    """
    if root is None:
        raise _refused(
            path,
            "local files are not allowed here (set allowed_local_media_path, or "
            "--allowed-local-media-path DIR on the server, to read them from one folder)",
        )
    try:
        # A NUL byte, a lone surrogate or an overlong name is no path a file can have.
        if "\0" in os.fspath(path):
            raise ValueError("embedded null byte")
        real = Path(os.path.realpath(os.fspath(path)))
    except (ValueError, OSError) as exc:
        raise _refused(path, f"it is not a valid path ({exc})") from exc
    real_root = Path(os.path.realpath(root))
    if not real.is_relative_to(real_root):
        raise _refused(path, f"it is outside the allowed folder {str(root)!r}")
    return real


def _opened_path(fd: int) -> str | None:
    """Where an open file really is (Linux), to catch a link swapped in after the check."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None


def read_local_file(path: str | os.PathLike[str], root: Path | None, cap: int) -> bytes:
    """The bytes of a regular file inside ``root``, at most ``cap`` of them.

    Raises :class:`MediaRefusedError` (outside the folder, not allowed, not a regular file),
    :class:`MediaFetchError` (``not_found``) or :class:`MediaTooLargeError`.
    """
    real = resolve_local_path(path, root)
    assert root is not None  # resolve_local_path refuses None
    # O_NOFOLLOW: the last component was resolved above and must not become a link now.
    # O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below).
    flags = os.O_RDONLY
    for name in ("O_NOFOLLOW", "O_NONBLOCK", "O_BINARY"):
        flags |= getattr(os, name, 0)
    try:
        fd = os.open(real, flags)
    except FileNotFoundError as exc:
        raise MediaFetchError(
            f"the local file {os.fspath(path)[:300]!r} does not exist", reason="not_found"
        ) from exc
    except OSError as exc:
        raise _refused(path, f"it cannot be opened ({exc.strerror})") from exc
    try:
        opened = _opened_path(fd)
        if opened is not None and not Path(opened).is_relative_to(os.path.realpath(root)):
            raise _refused(path, "it moved outside the allowed folder while being opened")
        info = os.fstat(fd)
        # A FIFO would block and a device could be endless: only regular files.
        if not stat.S_ISREG(info.st_mode):
            raise _refused(path, "it is not a regular file")
        if info.st_size > cap:
            raise MediaTooLargeError(
                f"the local file {os.fspath(path)[:300]!r} has {info.st_size} bytes, over the "
                f"limit of {cap}",
                reason="too_large",
            )
        file = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with file:
        data = file.read(cap + 1)
    if len(data) > cap:  # it grew while being read
        raise MediaTooLargeError(
            f"the local file {os.fspath(path)[:300]!r} is over the limit of {cap} bytes",
            reason="too_large",
        )
    return data

"""The result file of a dataset or batch job: one JSON line per row, resumable and exactly-once.

A job may be killed at any moment (SIGKILL included) and started again with the
same command: :class:`ResultFile` reads back what the killed run wrote, cuts a
torn last line, tells the job which rows are done, appends the others as they
finish and, once every row is there, rewrites the file in the input's order.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterable, Iterator, Mapping, Set
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from infercore._errors import InvalidRequestError

__all__ = ["Key", "ResultFile", "read_lines"]

Key = int | str
"""What identifies a row: its index in a dataset job, its ``custom_id`` in a batch file."""

# Copying the rows in order during finish reads and writes about this much at a time.
_COPY_CHUNK = 1 << 20


class ResultFile:
    """One JSON object per line, each identified by the value of its ``key`` field.

    Opening recovers what a previous run left:

    - A last line without its newline is the tail of a write that a kill cut
      short: the file is truncated to the end of the line before it. That holds
      even when the tail parses as JSON: the writer sends each line and its
      newline in one ``os.write``, so a line without its newline was never
      complete, and cutting it only costs doing that row again.
    - Any newline-terminated line that is not a JSON object with an int or str
      ``key`` field, and a tail that cannot be the start of one (it does not
      begin with ``{``), mean the file was written or edited by something else:
      :class:`~infercore.InvalidRequestError` names the line, and nothing is
      dropped.
    - A key on more than one line (only something else writes that): the first
      line counts, the others are left until :meth:`finish` rewrites the file
      without them.

    The keys found, and those written since, are :attr:`done`. :meth:`write`
    appends each record as one line in a single ``os.write`` on an ``O_APPEND``
    descriptor, so a kill leaves at most one torn tail, and fsyncs every
    ``fsync_every`` lines or ``fsync_seconds`` seconds (checked at each write)
    and on close. An advisory lock keeps a second process (the same command
    started twice) from writing the same file. Not thread-safe.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        key: str,
        *,
        fsync_every: int = 100,
        fsync_seconds: float = 1.0,
        param: str = "result_path",
    ) -> None:
        """Open (creating it and its folder if need be) and recover ``path``.

        ``param`` names the setting that chose the path, in the errors a user
        sees (``result_path`` for dataset jobs).
        """
        if fsync_every < 1 or fsync_seconds < 0:
            raise ValueError("fsync_every must be at least 1 and fsync_seconds not negative")
        self.path = Path(path)
        self.key = key
        self._fsync_every = fsync_every
        self._fsync_seconds = fsync_seconds
        self._param = param
        # Each present key's (offset, length) of its first line: finish copies the
        # rows from the file instead of holding every record in memory.
        self._lines: dict[Key, tuple[int, int]] = {}
        self._line_count = 0
        self._fd = self._open()
        try:
            self._size = self._recover()
        except BaseException:
            os.close(self._fd)
            raise
        self._closed = False
        self._unsynced = 0
        self._synced_at = time.monotonic()

    @property
    def done(self) -> Set[Key]:
        """The keys in the file: found when it was opened, and written since (a live view)."""
        return self._lines.keys()

    def write(self, record: Mapping[str, Any]) -> None:
        """Append ``record`` as one line; its key must not be in :attr:`done` yet."""
        self._check_open()
        key = self._key_of(record)
        if key is None:
            raise ValueError(f"a result record needs an int or str {self.key!r} field: {record!r}")
        if key in self._lines:
            raise ValueError(f"{self.key} {key!r} is already in {self.path}")
        data = json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
        try:
            # A regular file takes the whole line at once; a short write happens only
            # on a full disk or an interrupting signal, and the rest follows it.
            _write_all(self._fd, data)
        except BaseException:
            # The line may be torn: no later line may follow it. Opening the file
            # again cuts the tail.
            self.close()
            raise
        self._lines[key] = (self._size, len(data))
        self._line_count += 1
        self._size += len(data)
        self._unsynced += 1
        now = time.monotonic()
        if self._unsynced >= self._fsync_every or now - self._synced_at >= self._fsync_seconds:
            self._sync(now)

    def finish(self, order: Iterable[Key]) -> None:
        """Rewrite the file with exactly the keys of ``order``, in that order, and close it.

        The rows are copied to a temporary file in the same folder, which then
        replaces the result file atomically: a kill leaves either the old
        complete file or the new one, and finishing again is harmless. A file
        already in that order is left as it is.

        Raises ValueError when a key of ``order`` is repeated or was never
        written (the caller's mistake), and InvalidRequestError when the file
        holds keys that ``order`` lacks: it was written for another input.
        """
        self._check_open()
        keys = list(order)
        wanted = set(keys)
        if len(wanted) != len(keys):
            raise ValueError("the order given to finish repeats a key")
        missing = [key for key in keys if key not in self._lines]
        if missing:
            raise ValueError(f"{len(missing)} rows are not written yet, first {missing[:5]!r}")
        extra = [key for key in self._lines if key not in wanted]
        if extra:
            raise InvalidRequestError(
                f"{self.path} holds {len(extra)} rows that the input does not have "
                f"({self.key} {extra[:5]!r}...): it was written for another input; "
                "remove it or choose another path",
                param=self._param,
            )
        if self._line_count != len(keys) or list(self._lines) != keys:
            self._rewrite(keys)
        self.close()

    def close(self) -> None:
        """Fsync and close the file; closing again does nothing."""
        if self._closed:
            return
        self._closed = True
        try:
            os.fsync(self._fd)
        finally:
            os.close(self._fd)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _open(self) -> int:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            created = not self.path.exists()
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
        except (IsADirectoryError, NotADirectoryError, FileExistsError) as exc:
            raise InvalidRequestError(
                f"cannot write results to {self.path}: {exc.filename}: {exc.strerror}; "
                "give the path of a file whose folders are folders or do not exist yet",
                param=self._param,
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(fd)
            raise InvalidRequestError(
                f"another process is writing {self.path}; wait for it to end "
                "or choose another path",
                param=self._param,
            ) from exc
        if created:
            # The new file's name must survive a crash as well as its lines.
            _fsync_dir(self.path.parent)
        return fd

    def _recover(self) -> int:
        """Read the lines back, cut a torn tail, and return the size of the good part."""
        end = 0
        with open(self._fd, "rb", closefd=False) as file:
            for number, line in enumerate(file, start=1):
                if not line.endswith(b"\n"):
                    if not line.startswith(b"{"):
                        raise self._foreign(number)
                    os.ftruncate(self._fd, end)
                    os.fsync(self._fd)
                    break
                key = self._parse(line)
                if key is None:
                    raise self._foreign(number)
                self._lines.setdefault(key, (end, len(line)))
                self._line_count += 1
                end += len(line)
        return end

    def _parse(self, line: bytes) -> Key | None:
        try:
            record = json.loads(line)
        except ValueError:
            return None
        return self._key_of(record) if isinstance(record, dict) else None

    def _key_of(self, record: Mapping[str, Any]) -> Key | None:
        key = record.get(self.key)
        # bool is an int to Python but never a row's key.
        if isinstance(key, str) or (isinstance(key, int) and not isinstance(key, bool)):
            return key
        return None

    def _foreign(self, number: int) -> InvalidRequestError:
        return InvalidRequestError(
            f"line {number} of {self.path} is not a result line (a JSON object with "
            f"an int or str {self.key!r} field): the file was written or edited by "
            "something else; repair or remove it, or choose another path",
            param=self._param,
        )

    def _rewrite(self, keys: list[Key]) -> None:
        # A fixed name: a kill during an earlier finish leaves one stale copy, which
        # this one truncates and then moves away.
        temporary = self.path.with_name(f".{self.path.name}.finish.tmp")
        out = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            chunk = bytearray()
            for key in keys:
                offset, length = self._lines[key]
                chunk += os.pread(self._fd, length, offset)
                if len(chunk) >= _COPY_CHUNK:
                    _write_all(out, chunk)
                    chunk.clear()
            _write_all(out, chunk)
            os.fsync(out)
        finally:
            os.close(out)
        os.replace(temporary, self.path)
        _fsync_dir(self.path.parent)

    def _sync(self, now: float) -> None:
        os.fsync(self._fd)
        self._unsynced = 0
        self._synced_at = now

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError(f"the result file {self.path} is closed")


def _write_all(fd: int, data: bytes | bytearray) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_lines(path: Path) -> Iterator[dict[str, Any]]:
    """The complete lines of a result file as records, without opening it for writing.

    A torn tail (a line without its newline) is left out, not cut: the file may
    belong to a writer that cuts it on its next open. A missing file has none.
    """
    try:
        file = path.open("rb")
    except FileNotFoundError:
        return
    with file:
        for line in file:
            if line.endswith(b"\n"):
                yield json.loads(line)

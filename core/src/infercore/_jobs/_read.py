"""Dataset sources read as raw records, lazily and numbered across sources.

A source is chosen by what it is: a ``.jsonl`` file (one JSON value a line; blank
lines are skipped and not numbered), a ``.json`` file (an array of records, an
object whose one list value holds them, or JSON Lines under a ``.json`` name), a
``.csv`` file (a header row; a cell holding a JSON list or object is decoded, an
empty cell is null, any other cell stays a string), a ``.parquet`` file (read a
batch at a time), or a folder written by ``datasets``' ``save_to_disk``.

Every path is checked before the first record is read, so a job with a missing
second source fails before it does any work. A record that cannot be decoded (a
jsonl line that is not JSON, a csv row with more cells than the header) comes out
as an :class:`UnreadableRecord` at its index, so the job reports that row and goes
on. Values from parquet and saved datasets come out as plain JSON values: a stored
image, audio or video file (``{"bytes": ..., "path": ...}``) becomes a data URI of
its bytes, or its path when only the path is stored.
"""

from __future__ import annotations

import base64
import csv
import importlib
import importlib.util
import json
import mimetypes
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any

from infercore._errors import InvalidRequestError

__all__ = ["UnreadableRecord", "data_uri", "read_records"]

_PARAM = "val_dataset"
_BATCH_ROWS = 1024
_FORMATS = ".jsonl, .json, .csv or .parquet file, or a folder saved by datasets' save_to_disk"

# The image formats that datasets stores a decoded image as, told by their first bytes
# where the stored path names no file type.
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
)


@dataclass(frozen=True)
class UnreadableRecord:
    """A record that could not be decoded; ``message`` says where and why."""

    message: str


_Reader = Callable[[Path], Iterator[Any]]


def read_records(sources: Sequence[str | os.PathLike[str]]) -> Iterator[tuple[int, Any]]:
    """Every record of every source in order, numbered from 0 across all of them.

    Raises :class:`InvalidRequestError` (``param="val_dataset"``) at once for a missing
    source, one of no known format, or one whose reader library is not installed.
    """
    plan = [(Path(source), _reader_for(Path(source))) for source in sources]
    return enumerate(chain.from_iterable(read(path) for path, read in plan))


def data_uri(data: bytes, name: str | None = None) -> str:
    """A ``data:`` URI of a media file's bytes; ``name``, the stored file name, tells the type."""
    kind = mimetypes.guess_type(name)[0] if name else None
    if kind is None:
        kind = next(
            (kind for start, kind in _SIGNATURES if data.startswith(start)),
            "application/octet-stream",
        )
    return f"data:{kind};base64,{base64.b64encode(data).decode('ascii')}"


def _invalid(message: str) -> InvalidRequestError:
    return InvalidRequestError(message, param=_PARAM)


def _require(module: str, what: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise _invalid(
            f"reading {what} needs the {module} package; "
            "install it with: pip install 'infercore[jobs]'"
        )


def _reader_for(path: Path) -> _Reader:
    if path.is_dir():
        _check_saved_dataset(path)
        _require("datasets", "a saved dataset folder")
        return _read_saved
    if not path.is_file():
        raise _invalid(f"no dataset file at {path}: give an existing {_FORMATS}")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        _require("pyarrow", "parquet files")
    reader = _READERS.get(suffix)
    if reader is None:
        raise _invalid(f"cannot read {path}: its suffix is not known; give a {_FORMATS}")
    return reader


def _check_saved_dataset(path: Path) -> None:
    if (path / "dataset_dict.json").is_file():
        splits = sorted(item.name for item in path.iterdir() if (item / "state.json").is_file())
        example = path / splits[0] if splits else path / "train"
        raise _invalid(
            f"{path} holds several splits ({', '.join(splits) or 'none found'}); "
            f"give one split's folder, e.g. {example}"
        )
    if not ((path / "dataset_info.json").is_file() or (path / "state.json").is_file()):
        raise _invalid(
            f"{path} is a folder but not a dataset saved by datasets' save_to_disk "
            f"(it has no dataset_info.json or state.json); give a {_FORMATS}"
        )


def _read_jsonl(path: Path) -> Iterator[Any]:
    # Bytes, not text: a line that is not UTF-8 is one unreadable record, not the end.
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except ValueError as exc:
                yield UnreadableRecord(f"{path}, line {number}: not valid JSON ({exc})")


def _read_json(path: Path) -> Iterator[Any]:
    try:
        with path.open("rb") as file:
            document = json.load(file)
    except json.JSONDecodeError as exc:
        # A second value after the first: JSON Lines under a .json name.
        if exc.msg == "Extra data":
            yield from _read_jsonl(path)
            return
        raise _invalid(f"{path} is not valid JSON: {exc}") from exc
    except ValueError as exc:
        raise _invalid(f"{path} is not valid JSON: {exc}") from exc
    if isinstance(document, dict):
        lists = [key for key, value in document.items() if isinstance(value, list)]
        if len(lists) != 1:
            found = f"list values {', '.join(lists)}" if lists else "no list value"
            raise _invalid(
                f"{path} holds a JSON object with {found}; give an array of records, "
                "an object with one list of records, or JSON Lines"
            )
        document = document[lists[0]]
    if not isinstance(document, list):
        raise _invalid(f"{path} holds a single JSON {type(document).__name__}, not records")
    yield from document


def _cell(value: str | None) -> Any:
    if not value:
        return None
    text = value.strip()
    if (text.startswith("[") and text.endswith("]")) or (
        text.startswith("{") and text.endswith("}")
    ):
        try:
            return json.loads(text)
        except ValueError:
            return value
    return value


def _read_csv(path: Path) -> Iterator[Any]:
    with path.open(newline="", encoding="utf-8-sig") as file:
        rows = csv.DictReader(file)
        try:
            for row in rows:
                if None in row:  # DictReader files surplus cells under the key None
                    yield UnreadableRecord(
                        f"{path}, line {rows.line_num}: more cells than the header has columns"
                    )
                    continue
                yield {name: _cell(value) for name, value in row.items()}
        except (csv.Error, UnicodeDecodeError) as exc:
            raise _invalid(f"{path}, line {rows.line_num}: cannot read the CSV ({exc})") from exc


def _plain(value: Any) -> Any:
    """A value from pyarrow as plain JSON: stored media files as data URIs or paths."""
    if isinstance(value, dict):
        if value.keys() == {"bytes", "path"}:  # how datasets stores an image, audio or video
            data, name = value["bytes"], value["path"]
            return data_uri(data, name) if data is not None else name
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):  # pyarrow gives map entries as tuples
        return [_plain(item) for item in value]
    if isinstance(value, bytes):
        return data_uri(value)
    if value is None or isinstance(value, str | int | float):
        return value
    # Dates and times, decimals: their text.
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _read_parquet(path: Path) -> Iterator[Any]:
    # Imported by name: pyarrow ships no type information.
    pyarrow = importlib.import_module("pyarrow")
    parquet = importlib.import_module("pyarrow.parquet")
    try:
        with parquet.ParquetFile(path) as file:
            for batch in file.iter_batches(batch_size=_BATCH_ROWS):
                for row in batch.to_pylist():
                    yield _plain(row)
    except pyarrow.ArrowException as exc:
        raise _invalid(f"cannot read {path} as parquet: {exc}") from exc


def _read_saved(path: Path) -> Iterator[Any]:
    datasets = importlib.import_module("datasets")
    dataset = datasets.load_from_disk(str(path))
    # Arrow tables rather than decoded rows: images stay the stored files, and neither
    # Pillow nor an audio decoder is needed.
    for table in dataset.with_format("arrow").iter(batch_size=_BATCH_ROWS):
        for row in table.to_pylist():
            yield _plain(row)


_READERS: dict[str, _Reader] = {
    ".jsonl": _read_jsonl,
    ".json": _read_json,
    ".csv": _read_csv,
    ".parquet": _read_parquet,
}

"""Dataset sources read as raw records: formats, numbering, unreadable records, refusals."""

from __future__ import annotations

import base64
import importlib.util
import io
import json
from pathlib import Path
from typing import Any

import pytest

from infercore._errors import InvalidRequestError
from infercore._jobs._read import UnreadableRecord, data_uri, read_records


def _records(*sources: Path) -> list[tuple[int, Any]]:
    return list(read_records(sources))


def _write_jsonl(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_jsonl_records_are_numbered_across_sources_and_blank_lines_are_not(
    tmp_path: Path,
) -> None:
    first = _write_jsonl(tmp_path / "a.jsonl", '{"query": "a0"}', "", "   ", '{"query": "a1"}')
    second = _write_jsonl(tmp_path / "b.jsonl", "", '{"query": "b0"}', '{"query": "b1"}', "")

    assert _records(first, second) == [
        (0, {"query": "a0"}),
        (1, {"query": "a1"}),
        (2, {"query": "b0"}),
        (3, {"query": "b1"}),
    ]


def test_an_unreadable_jsonl_line_is_a_record_and_the_rows_after_it_still_come(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(b'{"query": "q0"}\n{"query": \n\n{"query": "q2"}\n\xff\xfe\n[1, 2]\n')

    records = _records(path)

    assert [index for index, _ in records] == [0, 1, 2, 3, 4]
    assert records[0][1] == {"query": "q0"}
    broken = records[1][1]
    assert isinstance(broken, UnreadableRecord)
    assert f"{path}, line 2: not valid JSON" in broken.message
    assert records[2][1] == {"query": "q2"}
    not_utf8 = records[3][1]
    assert isinstance(not_utf8, UnreadableRecord)
    assert "line 5" in not_utf8.message
    assert records[4][1] == [1, 2]


def test_sources_are_checked_before_the_first_record_is_read(tmp_path: Path) -> None:
    good = _write_jsonl(tmp_path / "good.jsonl", '{"query": "q"}')

    with pytest.raises(InvalidRequestError, match="no dataset file at") as caught:
        read_records([good, tmp_path / "missing.jsonl"])
    assert caught.value.param == "val_dataset"


def test_a_file_of_unknown_suffix_is_refused_with_the_known_formats(tmp_path: Path) -> None:
    path = tmp_path / "rows.txt"
    path.write_text("hello\n", encoding="utf-8")

    with pytest.raises(InvalidRequestError, match=r"\.jsonl, \.json, \.csv or \.parquet") as caught:
        read_records([path])
    assert caught.value.param == "val_dataset"


def test_json_array_and_object_with_one_list(tmp_path: Path) -> None:
    array = tmp_path / "array.json"
    array.write_text(json.dumps([{"query": "q0"}, {"query": "q1"}]), encoding="utf-8")
    wrapped = tmp_path / "wrapped.json"
    wrapped.write_text(json.dumps({"version": "1", "data": [{"query": "q2"}]}), encoding="utf-8")

    assert _records(array, wrapped) == [
        (0, {"query": "q0"}),
        (1, {"query": "q1"}),
        (2, {"query": "q2"}),
    ]


def test_json_lines_under_a_json_name_are_read_as_lines(tmp_path: Path) -> None:
    path = _write_jsonl(tmp_path / "rows.json", '{"query": "q0"}', "", '{"query": "q1"}')

    assert _records(path) == [(0, {"query": "q0"}), (1, {"query": "q1"})]


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ('{"train": [], "test": []}', "list values train, test"),
        ('{"name": "x"}', "no list value"),
        ('"text"', "single JSON str"),
        ("[1, 2", "not valid JSON"),
    ],
)
def test_json_documents_that_hold_no_records_are_refused(
    tmp_path: Path, document: str, problem: str
) -> None:
    path = tmp_path / "rows.json"
    path.write_text(document, encoding="utf-8")

    with pytest.raises(InvalidRequestError, match=problem) as caught:
        _records(path)
    assert caught.value.param == "val_dataset"


def test_csv_cells_holding_json_lists_or_objects_are_decoded(tmp_path: Path) -> None:
    path = tmp_path / "rows.csv"
    path.write_text(
        "\ufeffquery,images,response,note\n"
        'look <image><image>,"[""a.png"", ""b.png""]",two,[citation needed]\n'
        '"multi\nline",,"{""k"": 1}",\n'
        "too,many,cells,here,extra\n"
        "\n"
        "last,,,\n",
        encoding="utf-8",
    )

    records = _records(path)

    assert records[0] == (
        0,
        {
            "query": "look <image><image>",
            "images": ["a.png", "b.png"],
            "response": "two",
            "note": "[citation needed]",
        },
    )
    # An empty cell is null: CSV has no other way to leave a value out.
    assert records[1] == (
        1,
        {"query": "multi\nline", "images": None, "response": {"k": 1}, "note": None},
    )
    surplus = records[2][1]
    assert isinstance(surplus, UnreadableRecord)
    assert "more cells than the header" in surplus.message
    assert records[3] == (3, {"query": "last", "images": None, "response": None, "note": None})
    assert len(records) == 4


def _png(color: str) -> bytes:
    image_module = pytest.importorskip("PIL.Image")
    buffer = io.BytesIO()
    image_module.new("RGB", (3, 2), color).save(buffer, format="PNG")
    return buffer.getvalue()


def _decoded_uri(uri: str) -> bytes:
    header, _, payload = uri.partition(",")
    assert header.endswith(";base64")
    return base64.b64decode(payload)


def test_parquet_is_read_in_batches_as_plain_json_values(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    png = _png("red")
    media = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    rows = [
        {
            "query": f"q{number}",
            "history": [["hi", "hello"]] if number == 0 else None,
            "images": [{"bytes": png, "path": None}] if number == 1 else [],
            "videos": [{"bytes": None, "path": "clip.mp4"}] if number == 2 else [],
            "meta": {"score": number / 2},
        }
        for number in range(2500)
    ]
    schema = pa.schema(
        [
            ("query", pa.string()),
            ("history", pa.list_(pa.list_(pa.string()))),
            ("images", pa.list_(media)),
            ("videos", pa.list_(media)),
            ("meta", pa.struct([("score", pa.float64())])),
        ]
    )
    path = tmp_path / "rows.parquet"
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path, row_group_size=300)

    records = _records(path)

    assert [index for index, _ in records] == list(range(2500))
    assert [record["query"] for _, record in records] == [f"q{n}" for n in range(2500)]
    assert records[0][1]["history"] == [["hi", "hello"]]
    assert records[1][1]["history"] is None
    (image,) = records[1][1]["images"]
    assert image.startswith("data:image/png;base64,")
    assert _decoded_uri(image) == png
    assert records[2][1]["videos"] == ["clip.mp4"]
    assert records[2499][1]["meta"] == {"score": 1249.5}
    json.dumps([record for _, record in records])


def test_a_file_that_is_not_parquet_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("pyarrow")
    path = tmp_path / "rows.parquet"
    path.write_bytes(b"not parquet at all")

    with pytest.raises(InvalidRequestError, match=r"cannot read .* as parquet") as caught:
        _records(path)
    assert caught.value.param == "val_dataset"


def test_a_saved_dataset_folder_yields_its_images_as_data_uris(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    image_module = pytest.importorskip("PIL.Image")
    on_disk = tmp_path / "cat.png"
    on_disk.write_bytes(_png("blue"))
    features = datasets.Features(
        {
            "messages": datasets.List(
                {"role": datasets.Value("string"), "content": datasets.Value("string")}
            ),
            "images": datasets.List(datasets.Image()),
            "id": datasets.Value("int64"),
        }
    )
    rows = [
        {
            "messages": [{"role": "user", "content": "<image>what?"}],
            "images": [image_module.new("RGB", (5, 4), "green")],
            "id": 7,
        },
        {
            "messages": [{"role": "user", "content": "<image>and?"}],
            "images": [str(on_disk)],
            "id": 8,
        },
    ]
    folder = tmp_path / "saved"
    datasets.Dataset.from_list(rows, features=features).save_to_disk(str(folder))

    records = _records(folder)

    assert [index for index, _ in records] == [0, 1]
    first = records[0][1]
    assert first["messages"] == [{"role": "user", "content": "<image>what?"}]
    assert first["id"] == 7
    (uri,) = first["images"]
    assert uri.startswith("data:image/png;base64,")
    decoded = image_module.open(io.BytesIO(_decoded_uri(uri)))
    assert decoded.size == (5, 4)
    assert decoded.convert("RGB").getpixel((0, 0)) == (0, 128, 0)
    # save_to_disk stores the file's bytes too, so the record does not depend on the path.
    (stored,) = records[1][1]["images"]
    assert _decoded_uri(stored) == on_disk.read_bytes()


def test_a_saved_dataset_dict_is_refused_naming_a_split_folder(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    split = datasets.Dataset.from_list([{"query": "q"}])
    folder = tmp_path / "saved"
    datasets.DatasetDict({"train": split, "test": split}).save_to_disk(str(folder))

    with pytest.raises(InvalidRequestError, match="several splits") as caught:
        read_records([folder])
    assert "test, train" in str(caught.value)
    assert str(folder / "test") in str(caught.value)
    assert caught.value.param == "val_dataset"


def test_a_folder_that_is_no_saved_dataset_is_refused(tmp_path: Path) -> None:
    (tmp_path / "rows.jsonl").write_text('{"query": "q"}\n', encoding="utf-8")

    with pytest.raises(InvalidRequestError, match="not a dataset saved by") as caught:
        read_records([tmp_path])
    assert caught.value.param == "val_dataset"


@pytest.mark.parametrize(("module", "name"), [("pyarrow", "rows.parquet"), ("datasets", "saved")])
def test_a_missing_reader_library_is_refused_with_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module: str, name: str
) -> None:
    source = tmp_path / name
    if name == "saved":
        source.mkdir()
        (source / "state.json").write_text("{}", encoding="utf-8")
    else:
        source.write_bytes(b"PAR1")
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == module else find_spec(name, *a),
    )

    with pytest.raises(InvalidRequestError, match=rf"needs the {module} package") as caught:
        read_records([source])
    assert "pip install 'infercore[jobs]'" in str(caught.value)
    assert caught.value.param == "val_dataset"


def test_data_uri_takes_the_type_from_the_name_then_from_the_bytes() -> None:
    assert data_uri(b"RIFF....WAVE", "a.wav").startswith("data:audio/x-wav;base64,")
    assert data_uri(b"\xff\xd8\xff\xe0rest").startswith("data:image/jpeg;base64,")
    assert data_uri(b"\x00\x01") == "data:application/octet-stream;base64,AAE="

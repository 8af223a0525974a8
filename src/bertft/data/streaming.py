"""Big files in chunks: readers that yield a few thousand records at a time and writers that
append them, so that memory stays the size of a chunk however long the file is.

A record is a dict of the row's columns (plain Python values). Readers name every row the way a
user finds it in the file ("row 7 (line 8)", "line 12") for error messages; writers commit whole
chunks only and say how far they got (`rows`, `bytes`), which is what resuming needs.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bertft.data.load import json_line
from bertft.errors import BertftError
from bertft.files import replacing

# Suffix -> reader. ".json" may be a JSON array (read whole) or JSON Lines (streamed).
INPUT_FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".txt": "text",
}
OUTPUT_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}
csv.field_size_limit(1 << 28)  # the csv module's default (128 KiB) refuses long documents


@dataclass
class Chunk:
    """Consecutive records of a file; `start` is the index of the first (0-based, after any
    skipped rows) and `fraction` how much of the file has been read, for progress."""

    records: list[dict[str, Any]]
    rows: list[str]
    start: int
    fraction: float


def input_format(path: Path) -> str:
    fmt = INPUT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise BertftError(
            f"{path}: unknown format '{path.suffix}'; expected one of "
            f"{', '.join(sorted(INPUT_FORMATS))}"
        )
    return fmt


def output_format(path: Path) -> str:
    fmt = OUTPUT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise BertftError(f"--output {path}: expected a .csv, .jsonl or .parquet file")
    return fmt


def columns_of(path: Path) -> list[str]:
    """The file's column names, from its header, schema or first record."""
    fmt = input_format(path)
    if fmt == "parquet":
        return list(_parquet(path).schema_arrow.names)
    if fmt == "text":
        return ["text"]
    first = next(read_chunks(path, 1), None)
    if first is None:
        raise BertftError(f"{path}: the file is empty")
    if fmt in ("csv", "tsv"):
        return list(first.records[0])
    keys: dict[str, None] = {}
    for record in first.records:
        keys.update(dict.fromkeys(record))
    return list(keys)


def read_chunks(path: Path, chunk_size: int, skip: int = 0) -> Iterator[Chunk]:
    """Records of `path` in chunks of `chunk_size`, after skipping the first `skip` records."""
    if not path.is_file():
        raise BertftError(f"{path}: no such file")
    fmt = input_format(path)
    if fmt == "parquet":
        yield from _parquet_chunks(path, chunk_size, skip)
        return
    if fmt == "json" and _is_json_array(path):
        yield from _json_array_chunks(path, chunk_size, skip)
        return
    records = {"csv": csv_records, "tsv": csv_records, "jsonl": _jsonl_records}.get(
        fmt, _text_records if fmt == "text" else _jsonl_records
    )
    size = max(path.stat().st_size, 1)
    with path.open("rb") as file:
        batch: list[dict[str, Any]] = []
        names: list[str] = []
        index = 0
        for record, row in records(path, file, fmt):
            if index >= skip:
                batch.append(record)
                names.append(row)
                if len(batch) == chunk_size:
                    yield Chunk(batch, names, index + 1 - len(batch), file.tell() / size)
                    batch, names = [], []
            index += 1
        if batch:
            yield Chunk(batch, names, index - len(batch), 1.0)


def _lines(path: Path, file) -> Iterator[tuple[int, str]]:
    """(line number, decoded line); bytes that are not UTF-8 are refused with their line."""
    for number, raw in enumerate(file, start=1):
        try:
            line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as e:
            raise BertftError(
                f"{path}, line {number}: byte 0x{raw[e.start]:02x} is not valid UTF-8; "
                f"save the file as UTF-8"
            ) from None
        yield number, line


def csv_records(path: Path, file, fmt: str) -> Iterator[tuple[dict[str, str], str]]:
    lines = _lines(path, file)
    line_number = [0]

    def text() -> Iterator[str]:
        for number, line in lines:
            line_number[0] = number
            yield line

    reader = csv.reader(text(), delimiter="\t" if fmt == "tsv" else ",")
    kind = fmt.upper()
    try:
        header = next(reader, None)
        if header is None:
            raise BertftError(f"{path}: the file is empty")
        for row, values in enumerate(reader, start=1):
            if not values:
                continue  # a blank line
            if len(values) != len(header):
                raise BertftError(
                    f"{path}, row {row} (line {line_number[0]}): {len(values)} fields, expected "
                    f"{len(header)} as in the header ({', '.join(header)})"
                )
            yield dict(zip(header, values, strict=True)), f"row {row} (line {line_number[0]})"
    except csv.Error as e:
        raise BertftError(f"{path}, line {line_number[0]}: not valid {kind} ({e})") from None


def _jsonl_records(path: Path, file, fmt: str) -> Iterator[tuple[dict[str, Any], str]]:
    for number, line in _lines(path, file):
        record = json_line(path, number, line)
        if record is not None:
            yield record, f"line {number}"


def _text_records(path: Path, file, fmt: str) -> Iterator[tuple[dict[str, str], str]]:
    # A text a line; blank lines are not texts (and are not rows of the output either).
    for number, line in _lines(path, file):
        text = line.strip()
        if text:
            yield {"text": text}, f"line {number}"


def _is_json_array(path: Path) -> bool:
    with path.open("rb") as file:
        start = file.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    return start.startswith(b"[") or (start.startswith(b"{") and b"\n" not in start[:2])


def _json_array_chunks(path: Path, chunk_size: int, skip: int) -> Iterator[Chunk]:
    """A JSON array (or {"data": [...]}) cannot be read in parts: it is read whole, once."""
    from bertft.data.load import read_file

    frame, _, _ = read_file(path)
    records = frame.to_dict("records")
    for start in range(skip, len(records), chunk_size):
        part = records[start : start + chunk_size]
        rows = [f"record {i + 1}" for i in range(start, start + len(part))]
        yield Chunk(part, rows, start, min(1.0, (start + len(part)) / len(records)))


def _parquet(path: Path):
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except Exception as e:  # pyarrow raises several types for a damaged file
        raise BertftError(f"{path}: not a readable Parquet file ({e})") from None


def _parquet_chunks(path: Path, chunk_size: int, skip: int) -> Iterator[Chunk]:
    file = _parquet(path)
    total = max(file.metadata.num_rows, 1)
    index = 0
    for group in range(file.num_row_groups):
        rows_in_group = file.metadata.row_group(group).num_rows
        if index + rows_in_group <= skip:  # whole row groups skipped unread
            index += rows_in_group
            continue
        for batch in file.iter_batches(batch_size=chunk_size, row_groups=[group]):
            records = batch.to_pylist()
            if index + len(records) <= skip:
                index += len(records)
                continue
            cut = max(skip - index, 0)
            records, index = records[cut:], index + cut
            rows = [f"row {i + 1}" for i in range(index, index + len(records))]
            index += len(records)
            yield Chunk(records, rows, index - len(records), index / total)


# --- writers --------------------------------------------------------------------------------------


def cell(value: Any) -> str:
    """A value as one CSV cell, for every CSV that predict writes: a list of labels as "a|b"
    (as training reads them with --label_separator '|'), other lists and dicts (per-label
    scores, top-k answers) as JSON, None as empty."""
    if value is None:
        return ""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return "|".join(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


class AppendWriter:
    """CSV or JSON Lines appended in whole chunks. `bytes` is the committed length: a resumed
    run truncates the file to it, dropping whatever a killed run wrote after its last commit."""

    def __init__(self, path: Path, fmt: str, committed_bytes: int | None):
        self.path, self.fmt = path, fmt
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file = path.open("r+b" if committed_bytes is not None else "wb")
        if committed_bytes is not None:
            self.file.truncate(committed_bytes)
            self.file.seek(committed_bytes)
        self.bytes = committed_bytes or 0
        self.columns: list[str] | None = None

    def write(self, records: list[dict[str, Any]], columns: list[str]) -> None:
        if self.fmt == "csv":
            import io

            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            if self.bytes == 0:
                writer.writerow(columns)
            writer.writerows([cell(r.get(c)) for c in columns] for r in records)
            data = buffer.getvalue().encode()
        else:
            data = "".join(
                json.dumps(r, ensure_ascii=False, default=json_default) + "\n" for r in records
            ).encode()
        self.file.write(data)
        self.file.flush()
        os.fsync(self.file.fileno())  # on disk before the marker says so
        self.bytes += len(data)

    def finish(self) -> None:
        self.file.close()

    def close(self) -> None:
        self.file.close()


class ParquetPartsWriter:
    """Parquet cannot be appended to: each chunk becomes a part file in `OUTPUT.parts/` (renamed
    into place whole), and `finish` joins the parts into OUTPUT one row group at a time."""

    def __init__(self, path: Path, committed_parts: int | None):
        self.path = path
        self.parts = path.with_name(path.name + ".parts")
        self.count = committed_parts or 0
        self.parts.mkdir(parents=True, exist_ok=True)
        for extra in self.parts.glob("part-*"):  # written after the last commit: redone
            if not extra.name.endswith(".parquet") or _part_index(extra) >= self.count:
                extra.unlink()
        self.schema = None
        if self.count:
            import pyarrow.parquet as pq

            self.schema = pq.read_schema(self.parts / _part_name(0))

    def write(self, records: list[dict[str, Any]], columns: list[str]) -> None:
        import pyarrow.parquet as pq

        table = self._table(records, columns)
        with replacing(self.parts / _part_name(self.count)) as tmp:
            pq.write_table(table, tmp)
        self.count += 1

    def _table(self, records: list[dict[str, Any]], columns: list[str]):
        import pyarrow as pa

        data = {c: [r.get(c) for r in records] for c in columns}
        if self.schema is None:
            table = pa.table(data)
            # A column with only nulls in the first chunk would pin the type `null`.
            fields = [
                pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f
                for f in table.schema
            ]
            self.schema = pa.schema(fields)
        try:
            return pa.table(data, schema=self.schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
            raise BertftError(
                f"--output {self.path}: a column changes type after the first chunk ({e}); "
                f"Parquet needs one type a column: write .jsonl or .csv, or choose columns with "
                f"--keep_columns"
            ) from None

    def finish(self) -> None:
        with replacing(self.path) as tmp:
            self._join(tmp)
        for part in self.parts.iterdir():
            part.unlink()
        self.parts.rmdir()

    def _join(self, tmp: Path) -> None:
        import pyarrow.parquet as pq

        writer = None
        for index in range(self.count):
            table = pq.read_table(self.parts / _part_name(index))
            if writer is None:
                writer = pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table)
        if writer is None:  # no rows at all: an empty file with the columns it would have had
            import pyarrow as pa

            pq.write_table(pa.table({}), tmp)
        else:
            writer.close()

    def close(self) -> None:
        pass


def _part_name(index: int) -> str:
    return f"part-{index:06d}.parquet"


def _part_index(path: Path) -> int:
    try:
        return int(path.name.split("-")[1].split(".")[0])
    except (IndexError, ValueError):
        return 1 << 62


def json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # numpy scalars
        return value.item()
    return str(value)  # dates, decimals, bytes

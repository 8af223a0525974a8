"""Big outputs in chunks: writers that append whole chunks, so that memory stays the size of a
chunk however long the file is, and that say how far they got (`rows`, `bytes`), which is what
resuming needs. The readers are `data.formats`.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

from bertft.errors import BertftError
from bertft.files import replacing

OUTPUT_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".parquet": "parquet"}


def output_format(path: Path) -> str:
    fmt = OUTPUT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise BertftError(f"--output {path}: expected a .csv, .jsonl or .parquet file")
    return fmt


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

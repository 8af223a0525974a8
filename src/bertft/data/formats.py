"""One reader per format: records in chunks, each named the way a user finds it in the file.

Training, evaluate, the Arrow path and `predict --input` all read files here, chunk by chunk
(a whole file is all its chunks), so that a file means the same to every stage. A record is a
dict of the row's columns as the file holds them (plain Python values; `data.cells` makes them
texts and labels). Rows are named for messages: "row 7 (line 8)" in a CSV (the line the row
starts on), "line 12" in JSON Lines, "row 3" in Parquet, a JSON array and datasets.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from bertft.errors import BertftError

# Suffix -> format: every file a labelled set may be (training, evaluate, export's checks).
FILE_FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
# predict also reads a text a line (no labels, no columns)
INPUT_FORMATS = {**FILE_FORMATS, ".txt": "text"}
csv.field_size_limit(1 << 28)  # the csv module's default (128 KiB) refuses long documents

# How a format names its rows (`row_name`)
BY_ROW_AND_LINE, BY_LINE, BY_ROW = "row and line", "line", "row"
BY_TEXT_FLAG = "text flag"  # predict --text: "--text N"


def row_name(naming: str, index: int, line: int) -> str:
    """The name of record `index` (0-based, blank lines not counted) starting on `line`."""
    if naming == BY_ROW_AND_LINE:
        return f"row {index + 1} (line {line})"
    if naming == BY_LINE:
        return f"line {line}"
    if naming == BY_TEXT_FLAG:
        return f"--text {index + 1}"
    return f"row {index + 1}"


@dataclass
class Chunk:
    """Consecutive records of a file; `start` is the index of the first (0-based, after any
    skipped rows), `lines` the line each starts on (0 where lines mean nothing) and `fraction`
    how much of the file has been read, for progress."""

    records: list[dict[str, Any]]
    start: int
    lines: list[int]
    naming: str
    fraction: float

    @property
    def rows(self) -> list[str]:
        return [row_name(self.naming, self.start + i, line) for i, line in enumerate(self.lines)]


def input_format(path: Path, formats: dict[str, str] = INPUT_FORMATS, also: str = "") -> str:
    fmt = formats.get(path.suffix.lower())
    if fmt is None:
        raise BertftError(
            f"{path}: unknown format '{path.suffix}'; expected one of "
            f"{', '.join(sorted(formats))}{also}"
        )
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
    return list(first.records[0])


def read_chunks(path: Path, chunk_size: int, skip: int = 0) -> Iterator[Chunk]:
    """Records of `path` in chunks of `chunk_size`, after skipping the first `skip` records."""
    if not path.is_file():
        raise BertftError(f"{path}: no such file")
    fmt = input_format(path)
    if fmt == "parquet":
        yield from _parquet_chunks(path, chunk_size, skip)
        return
    if fmt == "json" and not _json_lines_inside(path):
        yield from _json_whole_chunks(path, chunk_size, skip)
        return
    records, naming = {
        "csv": (_csv_records, BY_ROW_AND_LINE),
        "tsv": (_csv_records, BY_ROW_AND_LINE),
        "text": (_text_records, BY_LINE),
    }.get(fmt, (_jsonl_records, BY_LINE))
    size = max(path.stat().st_size, 1)
    with path.open("rb") as file:
        batch: list[dict[str, Any]] = []
        lines: list[int] = []
        index = 0
        for record, line in records(path, file, fmt):
            if index >= skip:
                batch.append(record)
                lines.append(line)
                if len(batch) == chunk_size:
                    yield Chunk(batch, index + 1 - len(batch), lines, naming, file.tell() / size)
                    batch, lines = [], []
            index += 1
        if batch:
            yield Chunk(batch, index - len(batch), lines, naming, 1.0)


def chunks_of(
    records: list[dict[str, Any]], chunk_size: int, skip: int = 0, naming: str = BY_ROW
) -> Iterator[Chunk]:
    """Records already in memory (a JSON array, a bundled set) as chunks."""
    total = max(len(records), 1)
    for start in range(skip, len(records), chunk_size):
        part = records[start : start + chunk_size]
        yield Chunk(part, start, [0] * len(part), naming, min(1.0, (start + len(part)) / total))


# --- text formats ----------------------------------------------------------------------------


def _lines(path: Path, file) -> Iterator[tuple[int, str]]:
    """(line number, decoded line); bytes that are not UTF-8 are refused with their line."""
    for number, raw in enumerate(file, start=1):
        try:
            line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as e:
            raise _not_utf8(path, number, raw, e) from None
        yield number, line


def _not_utf8(path: Path, line: int, raw: bytes, e: UnicodeDecodeError) -> BertftError:
    return BertftError(
        f"{path}, line {line}: byte 0x{raw[e.start]:02x} is not valid UTF-8; save the file as UTF-8"
    )


def _csv_records(path: Path, file, fmt: str) -> Iterator[tuple[dict[str, str], int]]:
    """Each data row (blank lines skipped) and the line it starts on: a quoted cell may hold
    newlines, so a row may span lines."""
    lines = _lines(path, file)
    last_line = [0]

    def text() -> Iterator[str]:
        for number, line in lines:
            last_line[0] = number
            yield line

    reader = csv.reader(text(), delimiter="\t" if fmt == "tsv" else ",")
    try:
        header = next(reader, None)
        if header is None:
            raise BertftError(f"{path}: the file is empty")
        row, end = 0, last_line[0]
        for values in reader:
            start, end = end + 1, last_line[0]
            if not values:
                continue  # a blank line
            row += 1
            if len(values) != len(header):
                raise BertftError(
                    f"{path}, {row_name(BY_ROW_AND_LINE, row - 1, start)}: {len(values)} "
                    f"fields, expected "
                    f"{len(header)} as in the header ({', '.join(header)})"
                )
            yield dict(zip(header, values, strict=True)), start
    except csv.Error as e:
        raise BertftError(f"{path}, line {last_line[0]}: not valid {fmt.upper()} ({e})") from None


def json_line(path: Path, number: int, line: str) -> dict[str, Any] | None:
    """One JSON Lines record (None for a blank line), or an error naming the file and line."""
    if not line.strip():
        return None
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        raise BertftError(f"{path}, line {number}: not valid JSON ({e.msg})") from None
    if not isinstance(record, dict):
        raise BertftError(
            f"{path}, line {number}: expected a JSON object, got {type(record).__name__}"
        )
    return record


def _jsonl_records(path: Path, file, fmt: str) -> Iterator[tuple[dict[str, Any], int]]:
    for number, line in _lines(path, file):
        record = json_line(path, number, line)
        if record is not None:
            yield record, number


def _text_records(path: Path, file, fmt: str) -> Iterator[tuple[dict[str, str], int]]:
    # A text a line; blank lines are not texts (and are not rows of the output either).
    for number, line in _lines(path, file):
        text = line.strip()
        if text:
            yield {"text": text}, number


def _json_lines_inside(path: Path) -> bool:
    """Whether a .json file holds JSON Lines (common), which can be read in parts: its first
    line is a whole object and more follow. An array, or a mapping of columns, is read whole."""
    with path.open("rb") as file:
        first = file.readline()
        while first and not first.strip():
            first = file.readline()
        rest = file.read(4096)
    if not first.lstrip(b"\xef\xbb\xbf \t").startswith(b"{") or not rest.strip():
        return False
    try:
        return isinstance(json.loads(first.decode("utf-8-sig")), dict)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False


def _json_whole_chunks(path: Path, chunk_size: int, skip: int) -> Iterator[Chunk]:
    """A JSON array, {"data": [...]} or {"text": [...], "label": [...]} cannot be read in parts:
    it is read whole, once."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise _not_utf8(path, raw[: e.start].count(b"\n") + 1, raw, e) from None
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError as e:
        if e.msg == "Extra data":  # JSON Lines after all (its first line did not parse alone)
            records = [json_line(path, n, line) for n, line in enumerate(text.splitlines(), 1)]
            numbered = [(r, n) for n, r in enumerate(records, 1) if r is not None]
            for start in range(skip, len(numbered), chunk_size):
                part = numbered[start : start + chunk_size]
                fraction = min(1.0, (start + len(part)) / len(numbered))
                yield Chunk([r for r, _ in part], start, [n for _, n in part], BY_LINE, fraction)
            return
        raise BertftError(f"{path}, line {e.lineno}: not valid JSON ({e.msg})") from None
    yield from chunks_of(_json_records(path, loaded), chunk_size, skip)


def _json_records(path: Path, loaded: Any) -> list[dict[str, Any]]:
    if isinstance(loaded, dict):
        lists = [v for v in loaded.values() if isinstance(v, list)]
        if len(lists) == 1 and lists[0] and isinstance(lists[0][0], dict):
            loaded = lists[0]  # {"data": [{...}, ...]}
        elif lists and len(lists) == len(loaded) and len({len(v) for v in lists}) == 1:
            loaded = [dict(zip(loaded, values, strict=True)) for values in zip(*lists, strict=True)]
        else:
            raise BertftError(
                f"{path}: expected a list of records or a mapping of columns of one length"
            )
    if not isinstance(loaded, list):
        raise BertftError(f"{path}: expected a list of records, got {type(loaded).__name__}")
    for i, record in enumerate(loaded):
        if not isinstance(record, dict):
            raise BertftError(
                f"{path}, row {i + 1}: expected a JSON object, got {type(record).__name__}"
            )
    if not loaded:
        raise BertftError(f"{path}: the file is empty")
    return loaded


# --- Parquet ---------------------------------------------------------------------------------


def _parquet(path: Path) -> pq.ParquetFile:
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
            index += len(records)
            yield Chunk(records, index - len(records), [0] * len(records), BY_ROW, index / total)


# --- datasets (saved folders, the hub) -------------------------------------------------------


def dataset_chunks(dataset, chunk_size: int) -> Iterator[Chunk]:
    """The rows of a `datasets.Dataset`, ClassLabel ids as their names."""
    names = _class_names(dataset)
    total = max(len(dataset), 1)
    start = 0
    for batch in dataset.with_format(None).iter(batch_size=chunk_size):
        for column, labels in names.items():
            batch[column] = [_class_name(labels, v) for v in batch[column]]
        rows = zip(*batch.values(), strict=True)
        records = [dict(zip(batch, values, strict=True)) for values in rows]
        yield Chunk(records, start, [0] * len(records), BY_ROW, (start + len(records)) / total)
        start += len(records)


def with_label_names(dataset):
    """A datasets.Dataset as a pandas frame, ClassLabel ids replaced by their names."""
    frame = dataset.to_pandas()
    for column, labels in _class_names(dataset).items():
        frame[column] = [_class_name(labels, v) for v in frame[column]]
    return frame


def _class_names(dataset) -> dict[str, list[str]]:
    return {
        column: feature.names
        for column, feature in dataset.features.items()
        if type(feature).__name__ == "ClassLabel"
    }


def _class_name(names: list[str], value: Any) -> str | None:
    return names[int(value)] if value is not None and value == value and value >= 0 else None


def load_saved(path: Path, split: str):
    """(dataset, origin) of a folder saved with `datasets.save_to_disk` (one split of a
    DatasetDict)."""
    import datasets  # heavy: imported only where a saved set is read

    if not any(
        (path / marker).exists()
        for marker in ("dataset_info.json", "dataset_dict.json", "state.json")
    ):
        raise BertftError(f"{path}: a folder, but not one saved with datasets.save_to_disk")
    loaded = datasets.load_from_disk(str(path))
    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            raise BertftError(f"{path}: has no '{split}' split (it has {', '.join(loaded)})")
        return loaded[split], f"{path} [{split}]"
    return loaded, str(path)


def load_hub(name: str, split: str, config: str | None, bundled: str):
    """(dataset, origin) of one split of a hub dataset; `bundled` lists the bundled names for
    the message when the hub cannot provide it."""
    import datasets  # heavy: imported only where a hub set is read

    try:
        loaded = datasets.load_dataset(name, config, split=split)
    except Exception as e:  # offline, unknown name, no such split: all say the same to a user
        raise BertftError(
            f"'{name}' is not a bundled dataset ({bundled}), a local file or a saved dataset "
            f"folder, and the Hugging Face hub could not provide its '{split}' split"
            f"{f' of configuration {config!r}' if config else ''} "
            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'no details'})"
        ) from None
    where = f"{config}, {split}" if config else split
    return loaded, f"hub dataset '{name}' [{where}]"

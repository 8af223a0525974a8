"""Training data larger than memory: a file read through `datasets`' memory-mapped Arrow files.

`datasets.load_dataset` converts a CSV/TSV/JSONL/Parquet file to Arrow in chunks (once; later
runs reuse the conversion); the texts then stay on disk, paged in as the Trainer reads them.
Checks (empty texts, missing labels), the label counts and the stratified split work on
columns in record batches and on integer label codes, never on Python lists of every text.
Validation and test sets are held in memory as plain `Examples` (cap them with
`--max_eval_samples` on huge sets).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bertft.data.load import (
    FILE_FORMATS,
    LABEL_COLUMNS,
    TEXT_COLUMNS,
    Examples,
    find_column,
    usual_pair,
)
from bertft.errors import BertftError

log = logging.getLogger(__name__)

BATCH_ROWS = 65_536  # rows per record batch in the column checks: bounded temporaries


@dataclass
class ArrowExamples:
    """Labelled texts kept in an Arrow table on disk (one column, `text`). `labels` holds the
    label of each row and `row_index` its 0-based data row in the file (for messages), both as
    compact numpy arrays: label strings are short; the texts are never loaded all at once."""

    dataset: object  # datasets.Dataset
    labels: np.ndarray
    row_index: np.ndarray
    origin: str
    text_column: str
    header: bool  # a CSV/TSV: row N sits on line N+1
    label_column: str | None = None
    pairs = None  # pairs of texts are never read through Arrow
    pair_column = None

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices) -> ArrowExamples:
        indices = np.asarray(indices, dtype=np.int64)
        return ArrowExamples(
            self.dataset.select(indices),
            self.labels[indices],
            self.row_index[indices],
            self.origin,
            self.text_column,
            self.header,
            self.label_column,
        )

    def row_name(self, row: int) -> str:
        return f"row {row + 1} (line {row + 2})" if self.header else f"row {row + 1}"

    @property
    def rows(self) -> list[str]:
        return [self.row_name(int(r)) for r in self.row_index]

    def materialize(self) -> Examples:
        """As plain in-memory `Examples` (for the validation and test sets)."""
        texts = [_text(t) for t in self.dataset["text"]]
        labels = [str(x) for x in self.labels]
        return Examples(texts, labels, self.origin, self.rows, self.text_column, self.label_column)


def _text(value) -> str:
    return "" if value is None else str(value)


def use_arrow(source: str, from_mb: float) -> bool:
    """Whether `source` is a data file of at least `from_mb` MB (0: any data file)."""
    path = Path(source).expanduser()
    if not path.is_file() or path.suffix.lower() not in FILE_FORMATS:
        return False
    return path.stat().st_size >= from_mb * 2**20


def read_arrow(
    source: str,
    text_column: str | None,
    label_column: str | None,
    strict: bool,
    cache_dir: Path | None = None,
    text_pair_column: str | None = None,
) -> ArrowExamples | None:
    """The labelled texts of a file through Arrow, checked like `data.load.read_examples`; None for
    pairs of texts (a pair column named or found), which are read into memory instead."""
    import datasets

    path = Path(source).expanduser()
    fmt = FILE_FORMATS[path.suffix.lower()]
    header = fmt in ("csv", "tsv")
    kwargs: dict = {}
    if header:
        columns = _csv_header(path, "\t" if fmt == "tsv" else ",")
        kwargs = dict(
            sep="\t" if fmt == "tsv" else ",",
            keep_default_na=False,  # an empty cell is an empty text, not NaN
            features=datasets.Features({c: datasets.Value("string") for c in columns}),
        )
    builder = {"csv": "csv", "tsv": "csv", "parquet": "parquet"}.get(fmt, "json")
    try:
        loaded = datasets.load_dataset(
            builder,
            data_files=str(path),
            split="train",
            cache_dir=cache_dir and str(cache_dir),
            **kwargs,
        )
    except Exception as e:  # the builders raise many types for a damaged file
        cause = str(e.__cause__ or e).splitlines()[0] if str(e.__cause__ or e) else ""
        raise BertftError(f"{path}: could not be read as {fmt.upper()} ({cause})") from None
    names = list(loaded.column_names)
    found_pair = text_column is None and usual_pair(names) is not None
    if text_pair_column is not None or found_pair:
        return None
    frame = _names_only(names)
    text_col = find_column(frame, text_column, TEXT_COLUMNS, "text", str(path), True)
    label_col = find_column(frame, label_column, LABEL_COLUMNS, "label", str(path), True)
    table = loaded.data.table.select([text_col, label_col])
    if not all(_plain(table.schema.field(c).type) for c in (text_col, label_col)):
        return None  # lists, mappings or mixed kinds: the in-memory reader names the row
    keep, codes, label_names = _scan(table, path, text_col, label_col, strict, header)
    dataset = loaded.select_columns([text_col])
    if text_col != "text":
        dataset = dataset.rename_column(text_col, "text")
    if len(keep) < len(dataset):
        dataset = dataset.select(keep)
        codes = codes[keep]
    labels = np.asarray(label_names)[codes]
    rows = keep.astype(np.int64)
    return ArrowExamples(dataset, labels, rows, str(path), text_col, header, label_col)


def _plain(kind) -> bool:
    """Whether a column holds strings or numbers only. A JSON column of lists, objects or mixed
    kinds (1 among "pos") reaches here as lists, structs or `datasets`' Json type (each value's
    JSON text: "pos" would become the label '"pos"'). Such a file is read in memory instead,
    where each value is checked and the first bad one refused with its row."""
    import pyarrow as pa

    return (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_integer(kind)
        or pa.types.is_floating(kind)
        or pa.types.is_boolean(kind)
        or pa.types.is_null(kind)
    )


def _names_only(names: list[str]):
    import pandas as pd

    return pd.DataFrame(columns=names)


def _csv_header(path: Path, sep: str) -> list[str]:
    import csv

    with path.open(encoding="utf-8-sig", errors="replace", newline="") as file:
        header = next(csv.reader(file, delimiter=sep), None)
    if not header:
        raise BertftError(f"{path}: the file is empty")
    return header


def _scan(table, path: Path, text_col: str, label_col: str, strict: bool, header: bool):
    """Rows with a text (indices), label codes and label names, batch by batch; an empty label
    is refused and empty texts are skipped with a count (refused under --strict)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    def name(row: int) -> str:
        return f"row {row + 1} (line {row + 2})" if header else f"row {row + 1}"

    keep_parts, code_parts = [], []
    vocabulary: dict[str, int] = {}
    empty, first_empty, offset = 0, None, 0
    for batch in table.to_batches(max_chunksize=BATCH_ROWS):
        texts = _as_strings(batch.column(0))
        labels = _as_strings(batch.column(1))
        blank_label = pc.equal(pc.utf8_trim_whitespace(labels), "")
        if pc.any(blank_label).as_py():
            row = offset + pc.indices_nonzero(blank_label)[0].as_py()
            raise BertftError(f"{path}, {name(row)}, column '{label_col}': missing label")
        filled = pc.invert(pc.equal(pc.utf8_trim_whitespace(texts), ""))
        idx = pc.indices_nonzero(filled).to_numpy()
        if len(idx) < len(batch):
            blank = np.setdiff1d(np.arange(len(batch)), idx)
            empty += len(blank)
            first_empty = first_empty if first_empty is not None else offset + int(blank[0])
        keep_parts.append(idx + offset)
        encoded = (
            pc.dictionary_encode(labels).combine_chunks()
            if isinstance(labels, pa.ChunkedArray)
            else pc.dictionary_encode(labels)
        )
        local = [vocabulary.setdefault(v, len(vocabulary)) for v in encoded.dictionary.to_pylist()]
        code_parts.append(np.asarray(local, dtype=np.int32)[encoded.indices.to_numpy()])
        offset += len(batch)
    if empty and strict:
        raise BertftError(
            f"{path}, {name(first_empty)}, column '{text_col}': empty text ({empty} empty in "
            f"all; drop --strict to skip them)"
        )
    if empty:
        log.warning(
            "bertft: skipped %d empty text(s) in %s (first: %s); strict refuses them",
            empty,
            path,
            name(first_empty),
        )
    keep = np.concatenate(keep_parts) if keep_parts else np.zeros(0, dtype=np.int64)
    if not len(keep):
        raise BertftError(f"{path}: no texts")
    codes = np.concatenate(code_parts) if code_parts else np.zeros(0, dtype=np.int32)
    return keep, codes, list(vocabulary)


def _as_strings(column):
    """Any column as strings, nulls as empty (a JSON label 3 is the label "3")."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        if pa.types.is_floating(column.type):  # ints read with nulls become floats: 3.0 -> "3"
            rounded = pc.cast(column, pa.int64(), safe=False)
            same = pc.equal(pc.cast(rounded, column.type), column)
            column = pc.if_else(same, pc.cast(rounded, pa.string()), pc.cast(column, pa.string()))
        else:
            column = pc.cast(column, pa.string())
    return pc.fill_null(column, "")

"""Training data larger than memory: the texts of a file in a memory-mapped Arrow file.

The file is read once by the readers of `data.formats` (the ones training in memory and
predict use, with the same cell rule and checks), chunk by chunk, and its texts written to an
Arrow file in datasets' cache (later runs reuse it); they then stay on disk, paged in as the
Trainer reads them. The label of each row and where it sits in the file are kept as compact
numpy arrays (label codes, row index, line), never as Python lists of every text. Validation
and test sets are held in memory as plain `Examples` (cap them with `--max_eval_samples`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from bertft.data.checks import Checker, EmptyTexts
from bertft.data.columns import Columns, resolve, usual_pair
from bertft.data.examples import Examples
from bertft.data.formats import FILE_FORMATS, columns_of, read_chunks, row_name
from bertft.errors import BertftError

BATCH_ROWS = 65_536  # rows read and written at a time: bounded temporaries
CONVERSION = 1  # part of the cache key: bump when what a conversion writes changes
SCHEMA = pa.schema([("text", pa.large_string())])


@dataclass
class ArrowExamples:
    """Labelled texts kept in an Arrow table on disk (one column, `text`). `labels` holds the
    label of each row, `row_index` its 0-based record in the file and `row_line` the line it
    starts on (for messages), all as numpy arrays: the texts are never loaded all at once."""

    dataset: object  # datasets.Dataset
    labels: np.ndarray
    row_index: np.ndarray
    row_line: np.ndarray
    naming: str  # how the file names its rows (`formats.row_name`)
    origin: str
    text_column: str
    label_column: str | None = None
    pairs = None  # pairs of texts are never read through Arrow
    pair_column = None

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices) -> ArrowExamples:
        indices = np.asarray(indices, dtype=np.int64)
        return ArrowExamples(
            _select(self.dataset, indices),
            self.labels[indices],
            self.row_index[indices],
            self.row_line[indices],
            self.naming,
            self.origin,
            self.text_column,
            self.label_column,
        )

    def row_name(self, i: int) -> str:
        return row_name(self.naming, int(self.row_index[i]), int(self.row_line[i]))

    @property
    def rows(self) -> list[str]:
        return [self.row_name(i) for i in range(len(self))]

    def in_memory(self) -> Examples:
        """As plain in-memory `Examples` (for the validation and test sets)."""
        texts = list(self.dataset["text"])
        labels = [str(x) for x in self.labels]
        return Examples(texts, labels, self.origin, self.rows, self.text_column, self.label_column)


def _select(dataset, indices: np.ndarray):
    """`dataset.select(indices)`. datasets takes contiguous indices by a slice, which fails on
    numpy integers (an IndexError deep in its table search): give it a range of Python ints."""
    contiguous = len(indices) and indices[-1] - indices[0] + 1 == len(indices)
    if contiguous and np.all(np.diff(indices) == 1):
        return dataset.select(range(int(indices[0]), int(indices[-1]) + 1))
    return dataset.select(indices)


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
    """The labelled texts of a file through Arrow, checked like `data.load.read_examples`; None
    for pairs of texts (a pair column named or found) and for lists of labels (multi-label),
    which are read into memory instead."""
    import datasets  # heavy: imported where a big file is read (start-up time of the CLI)

    path = Path(source).expanduser()
    origin = str(path)
    names = columns_of(path)
    if text_pair_column is not None or (text_column is None and usual_pair(names)):
        return None
    columns = resolve(names, origin, Columns(text_column, None, label_column))
    assert columns.text is not None
    root = Path(cache_dir or datasets.config.HF_DATASETS_CACHE) / "bertft-arrow"
    folder = root / f"{path.stem}-{_key(path, columns)}"
    if not (folder / "summary.json").is_file() and not _convert(path, columns, folder, strict):
        return None
    summary = json.loads((folder / "summary.json").read_text())
    EmptyTexts(summary["empty"], summary["first_empty"]).report(origin, columns.text, strict)
    arrays = np.load(folder / "rows.npz")
    return ArrowExamples(
        datasets.Dataset.from_file(str(folder / "texts.arrow")),
        np.asarray(summary["labels"])[arrays["codes"]],
        arrays["index"],
        arrays["line"],
        summary["naming"],
        origin,
        columns.text,
        columns.label,
    )


def _key(path: Path, columns: Columns) -> str:
    """The same file (path, size, modification time) read with the same columns."""
    stat = path.stat()
    shape = [CONVERSION, str(path.resolve()), stat.st_size, stat.st_mtime_ns, columns.as_record()]
    return hashlib.sha256(json.dumps(shape).encode()).hexdigest()[:16]


def _convert(path: Path, columns: Columns, folder: Path, strict: bool) -> bool:
    """Read `path` once, checking every row, into `folder`: the texts with a text
    (texts.arrow), label codes, rows and lines (rows.npz) and the label names and empty texts
    (summary.json). False (nothing written) where a label is a list."""
    checker = Checker(str(path), columns)
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    vocabulary: dict[str, int] = {}
    codes, index, line = [], [], []
    naming = None
    try:
        sink = pa.OSFile(str(tmp / "texts.arrow"), "wb")
        with sink, pa.ipc.new_stream(sink, SCHEMA) as writer:
            for chunk in read_chunks(path, BATCH_ROWS):
                checked = checker.check(chunk)
                labels = checked.labels or []
                if any(isinstance(y, tuple) for y in labels):
                    return False  # multi-label: read in memory
                writer.write_batch(
                    pa.record_batch([pa.array(checked.texts, pa.large_string())], schema=SCHEMA)
                )
                codes.append(
                    np.fromiter(
                        (vocabulary.setdefault(y, len(vocabulary)) for y in labels),
                        np.int32,
                        len(labels),
                    )
                )
                kept = np.asarray(checked.kept, dtype=np.int64)
                index.append(chunk.start + kept)
                line.append(np.asarray(chunk.lines, dtype=np.int64)[kept])
                naming = chunk.naming
        total = sum(len(c) for c in codes)
        if not total:
            checker.finish(strict, 0)  # refuses: no texts (or, under --strict, empty ones)
        np.savez(
            tmp / "rows.npz",
            codes=np.concatenate(codes),
            index=np.concatenate(index),
            line=np.concatenate(line),
        )
        summary = {
            "labels": list(vocabulary),
            "empty": checker.empty.count,
            "first_empty": checker.empty.first,
            "naming": naming,
        }
        (tmp / "summary.json").write_text(json.dumps(summary))
        _publish(tmp, folder)
        return True
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _publish(tmp: Path, folder: Path) -> None:
    """Rename the finished conversion into place; where another process (a torchrun rank)
    published the same one first, keep that."""
    try:
        tmp.rename(folder)
    except OSError:
        if not (folder / "summary.json").is_file():
            raise BertftError(f"{folder}: could not write the converted data") from None

"""`bertft predict --input FILE`: label a file of any length in chunks, resumably.

Each chunk is read, predicted (sorted by length inside the chunk, answers back in input order),
appended to the output whole and then committed in a marker beside the output
(`OUTPUT.progress.json`: the command's identity and the rows and bytes written). Rerunning the
same command after a crash, SIGKILL or SIGTERM truncates the output to the last commit and goes
on from the next row, so every row is written exactly once and in order. A different command
(other model, input or settings) is refused rather than mixed into the same output. SIGTERM and
SIGINT stop after the current chunk is committed (exit 143 / 130).

`--text` goes the same way: its texts are the one chunk of a file with a text column.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bertft.data.cells import text_cell
from bertft.data.columns import Columns, Model, resolve
from bertft.data.formats import BY_TEXT_FLAG, Chunk, columns_of, read_chunks
from bertft.data.streaming import AppendWriter, ParquetPartsWriter, json_default, output_format
from bertft.errors import EXIT_CODES, BertftError, Interrupted
from bertft.files import replacing, write_text
from bertft.same_run import changed_settings
from bertft.settings import PredictSettings
from bertft.signals import stop_on_signals

log = logging.getLogger(__name__)

# what `Classifier.answers` may add to a row, whatever the task
ANSWER_FIELDS = ("label", "score", "top_k", "labels", "scores", "value", "interval")


class Stopped(Interrupted):
    """Stopped on a signal after committing a chunk; rerunning the command resumes."""

    def __init__(self, signum: int, rows: int, output: str | None):
        then = (
            f"all written to {output}. Run the same command again to continue."
            if output
            else "written to stdout (which cannot be resumed: use --output for that)."
        )
        Exception.__init__(
            self, f"stopped by {signal.Signals(signum).name} after {rows:,} rows, {then}"
        )
        self.signum, self.checkpoint = signum, None
        self.exit_code = EXIT_CODES.get(signum, 128 + signum)


def check_file(job: PredictSettings) -> None:
    """Refuse a bad --input or --output before any model loads."""
    if job.output:
        output_format(Path(job.output))
    columns_of(Path(job.input))  # the file exists, has a known format and a header


def existing_output(output: Path) -> BertftError:
    """The refusal of an --output that exists, on both predict paths (--input and --text):
    a finished file is never replaced silently, only with --overwrite."""
    return BertftError(
        f"{output} already exists (a finished run, or not one of bertft's); pass "
        f"--overwrite to replace it, or choose another --output"
    )


def predict_texts(clf, job: PredictSettings) -> dict[str, Any]:
    """`--text` (and `--text_pair`): the texts as the one chunk of a file with columns text
    (and text_pair), answered and written as a file's rows are; the output (nothing to resume)
    written whole."""
    pair_column = "text_pair" if job.text_pair else None
    pairs = job.text_pair or [None] * len(job.text)
    records = [
        {"text": t, **({pair_column: p} if pair_column else {})}
        for t, p in zip(job.text, pairs, strict=True)
    ]
    chunk = Chunk(records, 0, [0] * len(records), BY_TEXT_FLAG, 1.0)
    kept = ["text", *([pair_column] if pair_column else [])]
    rows, empty = _predict_chunk(clf, chunk, job, ("text", pair_column), kept, Path("--text"))
    columns = kept + _answer_fields(clf, job.top_k)
    if job.output:
        path = Path(job.output)
        with replacing(path) as tmp:
            writer = AppendWriter(tmp, output_format(path), None)
            try:
                writer.write(rows, columns)
            finally:
                writer.close()
    else:
        _StdoutWriter().write(rows, columns)
    _say_empty(empty, "the texts")
    return {"rows": len(rows), "empty": empty, "resumed_from": 0}


def predict_file(clf, job: PredictSettings) -> dict[str, Any]:
    """Label every row of `job.input` with `clf` (a `classifier.Classifier`) into `job.output`.
    Returns a summary: rows, empty texts, seconds, whether it resumed."""
    source = Path(job.input)
    found, kept = _columns(source, job, clf)
    text_column, pair_column = found.text, found.text_pair
    assert text_column is not None
    identity = _identity(clf, job, text_column) | {"text_pair_column": pair_column}
    marker = _Marker(Path(job.output), identity) if job.output else None
    done = marker.start(job.overwrite) if marker else {"rows": 0}
    writer = _writer(job, done)
    columns = [_renamed(c) for c in kept] + _answer_fields(clf, job.top_k)
    # JSON Lines records may each have their own fields: JSONL output keeps them all; CSV and
    # Parquet have the first record's columns, and records with more are counted.
    per_record = job.keep_columns == "all" and Path(job.input).suffix.lower() in (
        ".jsonl",
        ".ndjson",
        ".json",
    )
    fixed_columns = not job.output or output_format(Path(job.output)) != "jsonl"
    beyond: dict[str, int] = {}
    progress = _Progress(done["rows"])
    empty = 0
    with stop_on_signals("stopping after this chunk", "stopping after this chunk") as stop:
        try:
            for chunk in read_chunks(source, job.chunk_size, skip=done["rows"]):
                rows, blank = _predict_chunk(
                    clf,
                    chunk,
                    job,
                    (text_column, pair_column),
                    None if per_record else kept,
                    source,
                )
                empty += blank
                if per_record and fixed_columns:
                    _count_beyond(rows, columns, beyond)
                writer.write(rows, columns)
                done = {"rows": chunk.start + len(rows), **_position(writer)}
                if marker:
                    marker.commit(done)
                progress.update(done["rows"], chunk.fraction)
                if stop.signum is not None:
                    raise Stopped(stop.signum, done["rows"], job.output)
            writer.finish()
        finally:
            writer.close()
    if marker:
        marker.remove()
    progress.close()
    _say_empty(empty, source)
    if beyond:
        log.warning(
            "bertft: %s record(s) of %s had fields not in its first record (%s), not written "
            "to %s; write .jsonl to keep every field",
            f"{sum(beyond.values()):,}",
            source,
            ", ".join(sorted(beyond)),
            job.output,
        )
    return {"rows": done["rows"], "empty": empty, "resumed_from": progress.first}


def _say_empty(empty: int, source) -> None:
    if empty:
        log.warning(
            "bertft: %s empty text(s) in %s got no label (label and score left empty)",
            f"{empty:,}",
            source,
        )


def _count_beyond(rows: list[dict[str, Any]], columns: list[str], beyond: dict[str, int]) -> None:
    known = set(columns)
    for row in rows:
        for key in row.keys() - known:
            beyond[key] = beyond.get(key, 0) + 1


def _predict_chunk(
    clf,
    chunk,
    job: PredictSettings,
    text_columns: tuple[str, str | None],
    kept: list[str] | None,
    source: Path,
):
    """The output rows of one chunk (kept columns, or all of each record's with `kept` None,
    then the answer), and its number of empty texts (or pairs missing a text)."""
    texts, pairs = chunk_texts(chunk, Columns(*text_columns), str(source))
    filled = [i for i, t in enumerate(texts) if t.strip() and (pairs is None or pairs[i].strip())]
    # The classifier sorts the chunk's texts by length and returns answers in input order.
    found = clf.answers(
        [texts[i] for i in filled],
        None if pairs is None else [pairs[i] for i in filled],
        job.top_k,
        job.threshold,
        job.positive_label,
    )
    empty_row = dict.fromkeys(_answer_fields(clf, job.top_k))
    fields: list[dict[str, Any]] = [dict(empty_row) for _ in texts]
    for i, answer in zip(filled, found, strict=True):
        fields[i] = answer
    rows = [
        {**{_renamed(c): r.get(c) for c in (r if kept is None else kept)}, **f}
        for r, f in zip(chunk.records, fields, strict=True)
    ]
    return rows, len(texts) - len(filled)


def chunk_texts(chunk: Chunk, columns: Columns, origin: str) -> tuple[list[str], list[str] | None]:
    """The texts (and second texts) of a chunk's records, by the one cell rule."""
    assert columns.text is not None
    records = list(zip(chunk.records, chunk.rows, strict=True))
    texts = [text_cell(r, columns.text, origin, row) for r, row in records]
    if columns.text_pair is None:
        return texts, None
    return texts, [text_cell(r, columns.text_pair, origin, row) for r, row in records]


# --- columns ----------------------------------------------------------------------------------


def _columns(source: Path, job: PredictSettings, clf) -> tuple[Columns, list[str]]:
    """The text (and, for a pair model, second-text) columns, found as training and evaluate
    find them (`data.columns.resolve`: the named ones, the model's own, the usual names), and
    the user's columns to carry into the output."""
    columns = columns_of(source)
    trained = {**clf.columns, "text_pair": clf.pair_column} if clf.pair_column else clf.columns
    found = resolve(
        columns,
        str(source),
        Columns(job.text_column, job.text_pair_column),
        Model(trained, pairs=clf.pair_column is not None),
        labels="ignored",
    )
    if job.keep_columns == "all":
        return found, columns
    if job.keep_columns == "none":
        return found, []
    wanted = [c.strip() for c in job.keep_columns.split(",") if c.strip()]
    missing = [c for c in wanted if c not in columns]
    if missing:
        raise BertftError(
            f"--keep_columns: {source} has no column {', '.join(repr(c) for c in missing)} "
            f"(columns: {', '.join(columns)})"
        )
    return found, wanted


def _answer_fields(clf, top_k: int) -> list[str]:
    """The answer columns of this model's rows, as the task's answer function writes them."""
    import numpy as np

    return list(clf.task.answers(np.zeros((1, len(clf.task.names))), top_k)[0])


def _renamed(column: str) -> str:
    """A user's column named like an answer field (a `label` column of a labelled file) is kept
    as `label_input`, so that both the file's value and the prediction come through."""
    return f"{column}_input" if column in ANSWER_FIELDS else column


# --- output and resuming ---------------------------------------------------------------------


def _writer(job: PredictSettings, done: dict[str, Any]):
    if not job.output:
        return _StdoutWriter()
    path = Path(job.output)
    if output_format(path) == "parquet":
        return ParquetPartsWriter(path, done.get("parts"))
    return AppendWriter(path, output_format(path), done.get("bytes"))


def _position(writer) -> dict[str, int]:
    if isinstance(writer, ParquetPartsWriter):
        return {"parts": writer.count}
    return {"bytes": getattr(writer, "bytes", 0)}


class _StdoutWriter:
    def write(self, records: list[dict[str, Any]], columns: list[str]) -> None:
        sys.stdout.write(
            "".join(json.dumps(r, ensure_ascii=False, default=json_default) + "\n" for r in records)
        )
        sys.stdout.flush()

    def finish(self) -> None:
        pass

    def close(self) -> None:
        pass


def _identity(clf, job: PredictSettings, text_column: str) -> dict[str, Any]:
    """What must be the same for a rerun to continue an output rather than start another."""
    settings = asdict(job)
    # No bearing on the rows written (texts: --input's alone). chunk_pooling does bear on them
    # but was never part of the identity: left as it was.
    for key in (
        "output",
        "chunk_size",
        "overwrite",
        "text",
        "text_pair",
        "batch_size",
        "threads",
        "device",
        "chunk_pooling",
    ):
        settings.pop(key)
    source = Path(job.input).resolve()
    stat = source.stat()
    settings.update(
        input=str(source),
        input_bytes=stat.st_size,
        input_modified_ns=stat.st_mtime_ns,
        text_column=text_column,
        model=clf.source or "in-memory",
        model_modified_ns=_modified(Path(clf.source)) if clf.source else None,
        backend=clf.backend,
    )
    return settings


def _modified(path: Path) -> int | None:
    files = (
        [path] if path.is_file() else list(path.glob("*.safetensors")) + list(path.glob("*.bin"))
    )
    stamps = [f.stat().st_mtime_ns for f in files if f.is_file()]
    return max(stamps) if stamps else None


class _Marker:
    """`OUTPUT.progress.json`: the identity of the command and how far its output is committed.
    Present only while an output is unfinished."""

    def __init__(self, output: Path, identity: dict[str, Any]):
        self.output, self.identity = output, identity
        self.path = output.with_name(output.name + ".progress.json")

    def start(self, overwrite: bool) -> dict[str, Any]:
        """Where to continue from: nothing done, or the last commit of this same command."""
        parts = self.output.with_name(self.output.name + ".parts")
        if overwrite:
            self.remove()
            for leftover in (self.output, *parts.glob("*")):
                leftover.unlink(missing_ok=True)
        if self.path.is_file():
            saved = json.loads(self.path.read_text())
            changed = changed_settings(saved["identity"], self.identity)
            if changed:
                raise BertftError(
                    f"{self.output} is the unfinished output of another command "
                    f"({'; '.join(changed)}); rerun that command to finish it, or pass "
                    f"--overwrite to start over"
                )
            done = saved["done"]
            log.info("bertft: resuming %s after %s rows", self.output, f"{done['rows']:,}")
            return done
        if self.output.exists() or parts.exists():
            raise existing_output(self.output)
        self.commit({"rows": 0})
        return {"rows": 0}

    def commit(self, done: dict[str, Any]) -> None:
        write_text(self.path, json.dumps({"identity": self.identity, "done": done}))

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


# --- progress ------------------------------------------------------------------------


class _Progress:
    """Rows, rows/s and ETA on stderr: redrawn in place on a terminal, a line every 10 s in logs."""

    def __init__(self, first: int):
        self.first = first
        self.started = self.last = time.perf_counter()
        # A resumed run does not know how much of the file the skipped rows were until its
        # first chunk; the ETA then counts from there.
        self.base: tuple[float, float] | None = (self.started, 0.0) if first == 0 else None
        self.tty = sys.stderr.isatty()
        self.drawn = False

    def update(self, rows: int, fraction: float) -> None:
        now = time.perf_counter()
        if not self.tty and now - self.last < 10 and fraction < 1.0:
            return
        self.last = now
        rate = (rows - self.first) / max(now - self.started, 1e-9)
        line = f"predict: {rows:,} rows ({fraction:.0%} of the file), {rate:,.0f} rows/s"
        if self.base is None:
            self.base = (now, fraction)
        elif 0 < fraction < 1 and fraction > self.base[1]:
            per_fraction = (now - self.base[0]) / (fraction - self.base[1])
            line += f", ETA {_duration(per_fraction * (1 - fraction))}"
        self.drawn = True
        sys.stderr.write(("\r" + line + "\033[K") if self.tty else line + "\n")
        sys.stderr.flush()

    def close(self) -> None:
        if self.tty and self.drawn:
            sys.stderr.write("\n")


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"

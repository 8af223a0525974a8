"""Load labelled texts from wherever the user keeps them, check them, and split them.

Everything is refused here, before a model is loaded: a bad file costs the user a second, not
an interrupted training run. Errors name the file, the row and the column.
"""

from __future__ import annotations

import io
import json
import logging
import numbers
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bertft.config import DataConfig
from bertft.data.bundled import BUNDLED, load_bundled
from bertft.errors import BertftError
from bertft.tasks import Task, TaskSettings, choose_task

TEXT_COLUMNS = (
    "text",
    "sentence",
    "review",
    "content",
    "document",
    "question",
    "body",
    "comment",
    "tweet",
    "message",
    "sms",
    "utterance",
)
LABEL_COLUMNS = (
    "label",
    "labels",
    "category",
    "class",
    "target",
    "intent",
    "sentiment",
    "topic",
    "y",
    "score",
    "rating",
    # The label columns of well-known pair sets as they are published: Quora/QQP, SNLI and
    # MultiNLI's JSONL, SICK (which has both: the user chooses, as for any two candidates).
    "is_duplicate",
    "gold_label",
    "relatedness_score",
    "entailment_label",
)
FILE_FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}

log = logging.getLogger(__name__)


PAIR_COLUMNS = (
    ("sentence1", "sentence2"),  # MRPC, RTE, STS-B, SNLI's JSONL
    ("premise", "hypothesis"),  # NLI on the hub
    ("question", "sentence"),  # QNLI
    ("question1", "question2"),  # QQP, Quora duplicates
    ("sentence_a", "sentence_b"),  # SICK (sentence_A, sentence_B: names match ignoring case)
    ("question", "passage"),  # BoolQ
    ("query", "passage"),
    ("text_a", "text_b"),
    ("text1", "text2"),
)


COLUMNS_KEY = "bertft_columns"  # config.json: the column names of the data a model trained on


def columns_record(examples: Examples) -> dict[str, str | None]:
    """What a model keeps under `COLUMNS_KEY`: its training data's text, second-text and label
    columns, so that predict and evaluate find them in files shaped like the training file."""
    return {
        "text": examples.text_column,
        "text_pair": examples.pair_column,
        "label": examples.label_column,
    }


def trained_columns(config: dict[str, Any]) -> dict[str, str]:
    """The columns a model's config.json says its training data had (kind -> name); empty for
    models made before bertft kept them."""
    saved = config.get(COLUMNS_KEY)
    if not isinstance(saved, dict):
        return {}
    return {kind: name for kind, name in saved.items() if isinstance(name, str)}


@dataclass
class Examples:
    """Texts (and their second texts, for pairs) and (optionally) their labels, with where
    they came from. A label is a string as read, or a tuple of strings where the source held a
    list; the task turns them into its own kind (`tasks.*.parse`)."""

    texts: list[str]
    labels: list | None
    origin: str  # "data.csv", "bundled dataset 'trec'", ... for messages
    rows: list[str]  # how to name each example in a message: "row 7 (line 8)", "line 3", ...
    text_column: str = "text"  # the source's own column name, for messages
    label_column: str | None = None
    pairs: list[str] | None = None  # the second text of each pair
    pair_column: str | None = None

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: list[int]) -> Examples:
        return Examples(
            texts=[self.texts[i] for i in indices],
            labels=None if self.labels is None else [self.labels[i] for i in indices],
            origin=self.origin,
            rows=[self.rows[i] for i in indices],
            text_column=self.text_column,
            label_column=self.label_column,
            pairs=None if self.pairs is None else [self.pairs[i] for i in indices],
            pair_column=self.pair_column,
        )


KeepAll = Callable[[str, list], bool]


@dataclass
class LabeledSplits:
    train: Examples
    validation: Examples
    test: Examples | None
    task: Task
    task_reason: str = ""  # why this task: what `--task auto` saw
    # False where no validation set was given and none was split off: it is the training texts
    # (the few-shot recipe's choice, `keep_all` of load_splits)
    held_out: bool = True


# --- reading one source ----------------------------------------------------------------------


def read_examples(
    source: str,
    text_column: str | None = None,
    label_column: str | None = None,
    *,
    labels_required: bool = True,
    strict: bool = False,
    split: str = "train",
    config: str | None = None,
    text_pair_column: str | None = None,
    preferred: dict[str, str] | None = None,
) -> Examples:
    """Read labelled (or, with labels_required=False, possibly unlabelled) texts from a bundled
    dataset name, a file, a saved dataset folder or a hub dataset name (its `config`). Pairs of
    texts come from `text_pair_column`, or from a usual pair of columns (`PAIR_COLUMNS`) when no
    text column is named. `preferred` (kind -> name, a model's `trained_columns`) names the
    columns to take where the user names none and the data has them."""
    if source in BUNDLED:
        texts, labels, *pairs = load_bundled(source)
        examples = Examples(
            texts,
            [tuple(y) if isinstance(y, list) else y for y in labels],
            f"bundled dataset '{source}'",
            [f"row {i + 1}" for i in range(len(texts))],
            label_column="label",
            pairs=pairs[0] if pairs else None,
            pair_column="text_pair" if pairs else None,
        )
        if text_pair_column and not pairs:
            raise BertftError(f"--text_pair_column: the bundled dataset '{source}' has no pairs")
    else:
        frame, origin, rows = _read_table(source, split, config)
        if preferred:
            text_column, text_pair_column, label_column = _prefer(
                frame, preferred, text_column, text_pair_column, label_column
            )
        columns = _columns(frame, origin, text_column, text_pair_column, label_column)
        examples = _from_frame(frame, origin, rows, *columns, labels_required)
    return _check(examples, strict)


def _read_table(
    source: str, split: str, config: str | None = None
) -> tuple[pd.DataFrame, str, list[str] | None]:
    path = Path(source).expanduser()
    if path.is_dir():
        return _read_saved_dataset(path, split)
    if path.is_file():
        return read_file(path)
    # "user/name" is a hub id; "data/train.csv", "./x" or "/x" are paths that do not exist.
    if path.suffix.lower() in FILE_FORMATS or source.startswith((".", "/", "~")):
        raise BertftError(f"{source}: no such file or folder")
    return _read_hub(source, split, config)


def read_file(path: Path) -> tuple[pd.DataFrame, str, list[str] | None]:
    fmt = FILE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise BertftError(
            f"{path}: unknown format '{path.suffix}'; expected one of "
            f"{', '.join(sorted(FILE_FORMATS))} or a folder saved with datasets.save_to_disk"
        )
    if fmt == "parquet":
        try:
            return pd.read_parquet(path), str(path), None
        except Exception as e:  # pyarrow raises several types for a damaged file
            raise BertftError(f"{path}: not a readable Parquet file ({e})") from None

    text = decode_text(path)
    if fmt in ("csv", "tsv"):
        return _parse_csv(path, text, "\t" if fmt == "tsv" else ","), str(path), None
    if fmt == "jsonl" or (fmt == "json" and not text.lstrip().startswith(("[", '{"', "{\n"))):
        return _parse_jsonl(path, text)
    try:
        records = json.loads(text)
    except json.JSONDecodeError as e:
        # A .json file holding JSON Lines is common; accept it as such.
        if e.msg == "Extra data":
            return _parse_jsonl(path, text)
        raise BertftError(f"{path}, line {e.lineno}: not valid JSON ({e.msg})") from None
    if isinstance(records, dict):
        # {"text": [...], "label": [...]} or {"data": [{...}, ...]}
        lists = [v for v in records.values() if isinstance(v, list)]
        if len(lists) == 1 and lists[0] and isinstance(lists[0][0], dict):
            records = lists[0]
    try:
        frame = pd.DataFrame(records)
    except ValueError as e:
        raise BertftError(
            f"{path}: expected a list of records or a mapping of columns ({e})"
        ) from None
    return frame, str(path), None


def decode_text(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise BertftError(
            f"{path}, line {line}: byte 0x{raw[e.start]:02x} is not valid UTF-8; "
            f"save the file as UTF-8"
        ) from None


def _parse_csv(path: Path, text: str, sep: str) -> pd.DataFrame:
    try:
        # Everything as strings: labels "01" stay "01", and empty cells are "" (not NaN) so that
        # they can be reported as empty rather than as the text "nan".
        frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False)
    except pd.errors.EmptyDataError:
        raise BertftError(f"{path}: the file is empty") from None
    except pd.errors.ParserError as e:
        _refuse_unparsed_csv(path, text, sep, e)
    return frame


def _refuse_unparsed_csv(path: Path, text: str, sep: str, error: Exception) -> None:
    """Say which row pandas could not parse, in predict's words: its own message spans two
    lines and names no data row. Predict's streaming reader finds the row; should it accept what
    pandas refused, pandas' message is kept, on one line."""
    from bertft.data.streaming import csv_records

    fmt = "tsv" if sep == "\t" else "csv"
    for _ in csv_records(path, io.BytesIO(text.encode("utf-8")), fmt):
        pass
    reason = " ".join(str(error).split())
    raise BertftError(f"{path}: not valid {fmt.upper()} ({reason})") from None


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


def _parse_jsonl(path: Path, text: str) -> tuple[pd.DataFrame, str, list[str]]:
    records, rows = [], []
    for number, line in enumerate(text.splitlines(), start=1):
        record = json_line(path, number, line)
        if record is not None:
            records.append(record)
            rows.append(f"line {number}")
    if not records:
        raise BertftError(f"{path}: the file is empty")
    return pd.DataFrame(records), str(path), rows


def _read_saved_dataset(path: Path, split: str) -> tuple[pd.DataFrame, str, None]:
    import datasets

    if not any(
        (path / marker).exists()
        for marker in ("dataset_info.json", "dataset_dict.json", "state.json")
    ):
        raise BertftError(f"{path}: a folder, but not one saved with datasets.save_to_disk")
    loaded = datasets.load_from_disk(str(path))
    if isinstance(loaded, datasets.DatasetDict):
        if split not in loaded:
            raise BertftError(f"{path}: has no '{split}' split (it has {', '.join(loaded)})")
        loaded = loaded[split]
        origin = f"{path} [{split}]"
    else:
        origin = str(path)
    return with_label_names(loaded), origin, None


def _read_hub(name: str, split: str, config: str | None = None) -> tuple[pd.DataFrame, str, None]:
    import datasets

    try:
        loaded = datasets.load_dataset(name, config, split=split)
    except Exception as e:  # offline, unknown name, no such split: all say the same to a user
        bundled = ", ".join(BUNDLED)
        raise BertftError(
            f"'{name}' is not a bundled dataset ({bundled}), a local file or a saved dataset "
            f"folder, and the Hugging Face hub could not provide its '{split}' split"
            f"{f' of configuration {config!r}' if config else ''} "
            f"({type(e).__name__}: {str(e).splitlines()[0] if str(e) else 'no details'})"
        ) from None
    where = f"{config}, {split}" if config else split
    return with_label_names(loaded), f"hub dataset '{name}' [{where}]", None


def with_label_names(dataset) -> pd.DataFrame:
    """A datasets.Dataset as a frame, ClassLabel ids replaced by their names."""
    import datasets

    frame = dataset.to_pandas()
    for column, feature in dataset.features.items():
        if isinstance(feature, datasets.ClassLabel):
            frame[column] = [
                feature.int2str(int(v)) if v is not None and v >= 0 else None for v in frame[column]
            ]
    return frame


# --- columns and checks ----------------------------------------------------------------------


def find_column(
    frame: pd.DataFrame,
    wanted: str | None,
    candidates: tuple[str, ...],
    kind: str,
    origin: str,
    required: bool,
) -> str | None:
    columns = [str(c) for c in frame.columns]
    if wanted is not None:
        if wanted not in columns:
            raise BertftError(f"{origin}: no column '{wanted}' (columns: {', '.join(columns)})")
        return wanted
    found = [c for c in columns if c.lower() in candidates]
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise BertftError(
            f"{origin}: {kind} column is ambiguous ({', '.join(found)}); "
            f"choose one with --{kind}_column"
        )
    if required:
        raise BertftError(
            f"{origin}: no {kind} column found among {', '.join(columns)}; "
            f"name it with --{kind}_column"
        )
    return None


def _columns(
    frame: pd.DataFrame,
    origin: str,
    text_column: str | None,
    pair_column: str | None,
    label_column: str | None,
) -> tuple[str | None, str | None, str | None]:
    """(text column, pair column or None, label column as asked): a usual pair of columns is
    taken as a pair when the user named neither."""
    if text_column is None and pair_column is None and (usual := usual_pair(frame.columns)):
        log.info(
            "%s: reading pairs of texts from columns '%s' and '%s' (--text_column for one text)",
            origin,
            *usual,
        )
        return *usual, label_column
    if pair_column is not None:
        find_column(frame, pair_column, (), "text_pair", origin, required=True)
        if text_column is None:  # the usual partner of a usual second column
            lower = {str(c).lower(): str(c) for c in frame.columns}
            partner = dict((b, a) for a, b in PAIR_COLUMNS).get(pair_column.lower())
            text_column = lower.get(partner) if partner else None
    return text_column, pair_column, label_column


def _prefer(
    frame: pd.DataFrame,
    preferred: dict[str, str],
    text_column: str | None,
    pair_column: str | None,
    label_column: str | None,
) -> tuple[str | None, str | None, str | None]:
    """The columns a model trained on, where the user named none and the frame has them: a file
    shaped like the training file needs no flags, whatever its columns are called."""
    present = {kind: name for kind, name in preferred.items() if name in frame.columns}
    return (
        text_column or present.get("text"),
        pair_column or present.get("text_pair"),
        label_column or present.get("label"),
    )


def usual_pair(columns) -> tuple[str, str] | None:
    """The first of the usual pairs of columns (`PAIR_COLUMNS`) that `columns` hold, as named
    there."""
    lower = {str(c).lower(): str(c) for c in columns}
    for first, second in PAIR_COLUMNS:
        if first in lower and second in lower:
            return lower[first], lower[second]
    return None


def _from_frame(
    frame: pd.DataFrame,
    origin: str,
    rows: list[str] | None,
    text_column: str | None,
    pair_column: str | None,
    label_column: str | None,
    labels_required: bool,
) -> Examples:
    text_col = find_column(frame, text_column, TEXT_COLUMNS, "text", origin, required=True)
    label_col = find_column(
        frame, label_column, LABEL_COLUMNS, "label", origin, required=labels_required
    )
    if rows is None:
        # CSV: data row N sits on line N+1, after the header; say both.
        header = origin.lower().endswith((".csv", ".tsv"))
        rows = [
            f"row {i + 1} (line {i + 2})" if header else f"row {i + 1}" for i in range(len(frame))
        ]
    texts = _texts(frame[text_col].tolist(), origin, rows, text_col)
    pairs = _texts(frame[pair_column].tolist(), origin, rows, pair_column) if pair_column else None
    labels = None
    if label_col is not None:
        values = frame[label_col].tolist()
        _refuse_mixed_labels(values, origin, rows, label_col)
        labels = [_label(v, origin, rows[i], label_col) for i, v in enumerate(values)]
        for i, label in enumerate(labels):
            if isinstance(label, str) and not label.strip():
                raise BertftError(f"{origin}, {rows[i]}, column '{label_col}': missing label")
    return Examples(texts, labels, origin, rows, text_col, label_col, pairs, pair_column)


def _texts(values: list, origin: str, rows: list[str], column: str) -> list[str]:
    """A text column's cells as strings. Numbers are texts as predict takes them (a review "5"
    is a text); a list or a mapping is not, and str() would hide it as "['a', 'b']"."""
    for i, value in enumerate(values):
        if not _is_scalar(value):
            raise BertftError(
                f"{origin}, {rows[i]}, column '{column}': expected a text, got "
                f"{type(value).__name__}"
            )
    return [_cell(v) for v in values]


def _is_scalar(value) -> bool:
    """A string, a number, a boolean, or missing (None, NaN): what a cell may hold."""
    missing = value is None or value is pd.NA
    return missing or isinstance(value, str | numbers.Number | bool | np.bool_)


def _label(value, origin: str, row: str, column: str) -> str | tuple[str, ...]:
    """A label cell: a list (JSON, Parquet, a datasets Sequence) becomes a tuple of strings.
    A mapping, or a list holding more than names, is refused: str() would make it a class."""
    items = value.tolist() if isinstance(value, np.ndarray) else value
    if isinstance(items, list | tuple):
        if all(_is_scalar(x) for x in items):
            return tuple(_cell(x) for x in items)
        inner = next(type(x).__name__ for x in items if not _is_scalar(x))
        got = f"a list holding a {inner}"
    elif _is_scalar(value):
        return _cell(value)
    else:
        got = type(value).__name__
    raise BertftError(
        f"{origin}, {row}, column '{column}': expected a label (a string, a number, or a list "
        f"of strings for multi-label), got {got}"
    )


def _label_kind(value) -> str | None:
    """Which kind of single label a cell holds: "string" or "number" (None: missing, blank or a
    list). Only JSON can mix them in one column; CSV cells are all strings and typed formats
    (Parquet, datasets) hold one type a column."""
    if isinstance(value, str):
        return "string" if value.strip() else None
    if isinstance(value, bool | np.bool_):
        return "boolean"
    if isinstance(value, numbers.Number) and value == value:  # NaN is missing
        return "number"
    return None


def first_two_kinds(
    values: list, kind_of: Callable[[Any], str | None]
) -> tuple[tuple[str, int], tuple[str, int]] | None:
    """The first value of the first kind and the first of a second kind, (kind, index) each, or
    None when `values` hold one kind (`kind_of` None: a missing value, of no kind)."""
    first: dict[str, int] = {}
    for i, value in enumerate(values):
        kind = kind_of(value)
        if kind is not None:
            first.setdefault(kind, i)
            if len(first) > 1:
                (kind_a, a), (kind_b, b) = first.items()
                return (kind_a, a), (kind_b, b)
    return None


def _refuse_mixed_labels(values: list, origin: str, rows: list[str], column: str) -> None:
    """Labels of two kinds are refused: `1` among "pos"/"neg" would silently become a third
    class "1", and under regression a string among numbers is a typo, not a target."""
    if mixed := first_two_kinds(values, _label_kind):
        (kind_a, a), (kind_b, b) = mixed
        raise BertftError(
            f"{origin}, {rows[b]}, column '{column}': the label {values[b]!r} is a "
            f"{kind_b}, but {rows[a]} has a {kind_a} ({values[a]!r}); give labels of one kind"
        )


def _cell(value) -> str:
    if value is None or value is pd.NA or isinstance(value, float) and value != value:
        return ""  # None, pandas' NA or NaN: missing
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a label column of ints read with NaNs becomes float
    return str(value)


def _check(examples: Examples, strict: bool) -> Examples:
    column = examples.text_column
    empty = [i for i, t in enumerate(examples.texts) if not t.strip()]
    if examples.pairs is not None:  # a pair missing its second text is as empty
        empty = sorted(set(empty) | {i for i, t in enumerate(examples.pairs) if not t.strip()})
    if empty and strict:
        raise BertftError(
            f"{examples.origin}, {examples.rows[empty[0]]}, column '{column}': "
            f"empty text ({len(empty)} empty in all; drop --strict to skip them)"
        )
    if empty:
        log.warning(
            "bertft: skipped %d empty text(s) in %s (first: %s); strict refuses them",
            len(empty),
            examples.origin,
            examples.rows[empty[0]],
        )
        empty_set = set(empty)
        examples = examples.subset([i for i in range(len(examples)) if i not in empty_set])
    if not examples.texts:
        raise BertftError(f"{examples.origin}: no texts")
    return examples


# --- splits -----------------------------------------------------------------------------------


def load_splits(cfg: DataConfig, seed: int, keep_all: KeepAll | None = None) -> LabeledSplits:
    """Train / validation (/ test) examples and the task (with its labels), all checked.
    Where no validation set is given, `keep_all(task name, training labels)` may say to split
    none off: the validation set is then the training texts (`held_out` False)."""
    read = dict(
        text_column=cfg.text_column,
        label_column=cfg.label_column,
        strict=cfg.strict,
        config=cfg.data_config,
        text_pair_column=cfg.text_pair_column,
    )
    settings = TaskSettings(cfg.label_separator, cfg.standardize_targets)
    held_out = True
    train = _read(cfg, cfg.data, cfg.train_split_name, read)
    for kind in ("train", "validation", "test"):
        source = getattr(cfg, f"{kind}_data", None) or cfg.data
        named = getattr(cfg, f"{kind}_split_name")
        if named and named != "train" and not _has_splits(source):
            raise BertftError(
                f"{kind}_split_name {named}: {source} has no named splits (only saved and hub "
                f"datasets do)" + (f"; give {kind}_data instead" if kind != "train" else "")
            )
    task_class, reason = choose_task(cfg.task, train, settings)
    if hasattr(train, "materialize") and not getattr(task_class, "reads_arrow", False):
        train = train.materialize()  # only single-label labels are kept as Arrow codes
    train = task_class.parse(train, settings)
    # A split name alone reads that split of --data (saved or hub dataset)
    val_source = cfg.validation_data or (cfg.data if cfg.validation_split_name else None)
    if val_source:
        split = cfg.validation_split_name or "validation"
        validation = _in_memory(_read(cfg, val_source, split, read), cfg.max_eval_samples, seed)
        validation = task_class.parse(validation, settings)
    elif keep_all is not None and keep_all(task_class.name, train.labels):
        validation, held_out = train, False
    else:
        train, validation = task_class.split(train, cfg.validation_split, seed)
    test_source = cfg.test_data or (cfg.data if cfg.test_split_name else None)
    test = None
    if test_source:
        test = _read(cfg, test_source, cfg.test_split_name or "test", read)
        test = task_class.parse(_in_memory(test, cfg.max_eval_samples, seed), settings)
    # Evaluation sets live in memory (an Arrow-backed one is sampled first, then loaded).
    validation = _in_memory(validation, cfg.max_eval_samples, seed)

    try:
        task = task_class.from_training(train.labels, settings)
    except BertftError as e:
        raise BertftError(f"{train.origin}: {e}") from None
    for split in (validation, test):
        if split is not None:
            task.check(split)

    train = _sample(train, cfg.max_train_samples, seed)
    validation = train if not held_out else _sample(validation, cfg.max_eval_samples, seed)
    test = _sample(test, cfg.max_eval_samples, seed) if test is not None else None
    return LabeledSplits(train, validation, test, task, reason, held_out)


def _has_splits(source: str) -> bool:
    return source not in BUNDLED and not Path(source).expanduser().is_file()


def _read(cfg: DataConfig, source: str, split: str, read: dict) -> Examples:
    """A file of at least --arrow_from_mb through Arrow (`data.arrow`), else into memory."""
    from bertft.data.arrow import read_arrow, use_arrow

    if use_arrow(source, cfg.arrow_from_mb):
        arrow = read_arrow(
            source,
            read["text_column"],
            read["label_column"],
            read["strict"],
            text_pair_column=read["text_pair_column"],
        )
        if arrow is not None:
            return arrow
    return read_examples(source, split=split, **read)


def _in_memory(examples, limit: int | None, seed: int) -> Examples:
    if hasattr(examples, "materialize"):
        return stratified_sample(examples, limit, seed).materialize()
    return examples


def _sample(examples: Examples, limit: int | None, seed: int) -> Examples:
    return stratified_sample(examples, limit, seed)


def stratified_sample(examples: Examples, limit: int | None, seed: int) -> Examples:
    """At most `limit` examples (seeded), each label keeping its share where the labels allow
    (a class of one text cannot be stratified: then a plain random sample); in file order."""
    if limit is None or limit >= len(examples):
        return examples
    import random

    labels = examples.labels
    # Classes are names: label lists (multi-label) and numbers (regression) are sampled plainly.
    named = labels is not None and all(isinstance(y, str) for y in labels)
    counts = Counter(labels) if named else Counter()
    if not named or min(counts.values()) < 2 or limit < len(counts):
        return examples.subset(sorted(random.Random(seed).sample(range(len(examples)), limit)))
    from sklearn.model_selection import train_test_split

    kept, _ = train_test_split(
        list(range(len(examples))), train_size=limit, random_state=seed, stratify=labels
    )
    return examples.subset(sorted(kept))

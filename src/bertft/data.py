"""Load labelled texts from wherever the user keeps them, check them, and split them.

Everything is refused here, before a model is loaded: a bad file costs the user a second, not
an interrupted training run. Errors name the file, the row and the column.
"""

from __future__ import annotations

import io
import json
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from bertft.config import DataConfig
from bertft.datasets_bundled import BUNDLED, load_bundled
from bertft.errors import BertftError

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


@dataclass
class Examples:
    """Texts and (optionally) their labels as strings, with where they came from."""

    texts: list[str]
    labels: list[str] | None
    origin: str  # "data.csv", "bundled dataset 'trec'", ... for messages
    rows: list[str]  # how to name each example in a message: "row 7 (line 8)", "line 3", ...
    text_column: str = "text"  # the source's own column name, for messages

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: list[int]) -> Examples:
        return Examples(
            texts=[self.texts[i] for i in indices],
            labels=None if self.labels is None else [self.labels[i] for i in indices],
            origin=self.origin,
            rows=[self.rows[i] for i in indices],
            text_column=self.text_column,
        )


@dataclass(frozen=True)
class LabelMap:
    """Label names in id order. Sorted, so the same label set always gets the same ids."""

    names: tuple[str, ...]

    @classmethod
    def from_labels(cls, labels: list[str]) -> LabelMap:
        unique = {str(x) for x in labels}  # plain str, also from a numpy array of labels
        # Integer labels sort as numbers ("2" before "10"), everything else as text.
        if all(_is_int(x) for x in unique):
            return cls(tuple(sorted(unique, key=int)))
        return cls(tuple(sorted(unique)))

    @property
    def id2label(self) -> dict[int, str]:
        return dict(enumerate(self.names))

    @property
    def label2id(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.names)}

    def encode(self, labels: list[str]) -> list[int]:
        ids = self.label2id
        return [ids[x] for x in labels]

    def __len__(self) -> int:
        return len(self.names)


@dataclass
class LabeledSplits:
    train: Examples
    validation: Examples
    test: Examples | None
    labels: LabelMap


def _is_int(value: str) -> bool:
    return value.lstrip("-").isdigit()


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
) -> Examples:
    """Read labelled (or, with labels_required=False, possibly unlabelled) texts from a bundled
    dataset name, a file, a saved dataset folder or a hub dataset name (its `config`)."""
    if source in BUNDLED:
        texts, labels = load_bundled(source)
        examples = Examples(
            texts,
            labels,
            f"bundled dataset '{source}'",
            [f"row {i + 1}" for i in range(len(texts))],
        )
    else:
        frame, origin, rows = _read_table(source, split, config)
        examples = _from_frame(frame, origin, rows, text_column, label_column, labels_required)
    return _check(examples, strict)


def _read_table(
    source: str, split: str, config: str | None = None
) -> tuple[pd.DataFrame, str, list[str] | None]:
    path = Path(source).expanduser()
    if path.is_dir():
        return _read_saved_dataset(path, split)
    if path.is_file():
        return _read_file(path)
    # "user/name" is a hub id; "data/train.csv", "./x" or "/x" are paths that do not exist.
    if path.suffix.lower() in FILE_FORMATS or source.startswith((".", "/", "~")):
        raise BertftError(f"{source}: no such file or folder")
    return _read_hub(source, split, config)


def _read_file(path: Path) -> tuple[pd.DataFrame, str, list[str] | None]:
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
        raise BertftError(f"{path}: not valid {'TSV' if sep == chr(9) else 'CSV'} ({e})") from None
    return frame


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
    return _with_label_names(loaded), origin, None


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
    return _with_label_names(loaded), f"hub dataset '{name}' [{where}]", None


def _with_label_names(dataset) -> pd.DataFrame:
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


def _find_column(
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


def _from_frame(
    frame: pd.DataFrame,
    origin: str,
    rows: list[str] | None,
    text_column: str | None,
    label_column: str | None,
    labels_required: bool,
) -> Examples:
    text_col = _find_column(frame, text_column, TEXT_COLUMNS, "text", origin, required=True)
    label_col = _find_column(
        frame, label_column, LABEL_COLUMNS, "label", origin, required=labels_required
    )
    if rows is None:
        # CSV: data row N sits on line N+1, after the header; say both.
        header = origin.lower().endswith((".csv", ".tsv"))
        rows = [
            f"row {i + 1} (line {i + 2})" if header else f"row {i + 1}" for i in range(len(frame))
        ]
    texts = [_cell(v) for v in frame[text_col].tolist()]
    labels = None
    if label_col is not None:
        labels = [_cell(v) for v in frame[label_col].tolist()]
        for i, label in enumerate(labels):
            if not label.strip():
                raise BertftError(f"{origin}, {rows[i]}, column '{label_col}': missing label")
    return Examples(texts, labels, origin, rows, text_col)


def _cell(value) -> str:
    if value is None or isinstance(value, float) and value != value:  # None or NaN
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # a label column of ints read with NaNs becomes float
    return str(value)


def _check(examples: Examples, strict: bool) -> Examples:
    column = examples.text_column
    empty = [i for i, t in enumerate(examples.texts) if not t.strip()]
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


def load_splits(cfg: DataConfig, seed: int) -> LabeledSplits:
    """Train / validation (/ test) examples and the label map, all checked."""
    read = dict(
        text_column=cfg.text_column,
        label_column=cfg.label_column,
        strict=cfg.strict,
        config=cfg.data_config,
    )
    train = _read(cfg, cfg.data, cfg.train_split_name, read)
    for kind in ("train", "validation", "test"):
        source = getattr(cfg, f"{kind}_data", None) or cfg.data
        named = getattr(cfg, f"{kind}_split_name")
        if named and named != "train" and not _has_splits(source):
            raise BertftError(
                f"{kind}_split_name {named}: {source} has no named splits (only saved and hub "
                f"datasets do)" + (f"; give {kind}_data instead" if kind != "train" else "")
            )
    # A split name alone reads that split of --data (saved or hub dataset)
    val_source = cfg.validation_data or (cfg.data if cfg.validation_split_name else None)
    if val_source:
        split = cfg.validation_split_name or "validation"
        validation = _read(cfg, val_source, split, read)
    else:
        train, validation = stratified_split(train, cfg.validation_split, seed)
    test_source = cfg.test_data or (cfg.data if cfg.test_split_name else None)
    test = None
    if test_source:
        test = _read(cfg, test_source, cfg.test_split_name or "test", read)
    # Evaluation sets live in memory (an Arrow-backed one is sampled first, then loaded).
    validation = _in_memory(validation, cfg.max_eval_samples, seed)
    test = _in_memory(test, cfg.max_eval_samples, seed) if test is not None else None

    counts = Counter(train.labels)
    if len(counts) < 2:
        only = next(iter(counts))
        raise BertftError(
            f"{train.origin}: every training label is '{only}'; "
            f"a classifier needs at least two classes"
        )
    for split in (validation, test):
        if split is None:
            continue
        for label, row in zip(split.labels, split.rows, strict=True):
            if label not in counts:
                raise BertftError(
                    f"{split.origin}, {row}: label '{label}' never appears in the training data "
                    f"(training labels: {', '.join(LabelMap.from_labels(list(counts)).names)})"
                )

    train = _sample(train, cfg.max_train_samples, seed)
    validation = _sample(validation, cfg.max_eval_samples, seed)
    test = _sample(test, cfg.max_eval_samples, seed) if test is not None else None
    return LabeledSplits(train, validation, test, LabelMap.from_labels(list(counts)))


def _has_splits(source: str) -> bool:
    return source not in BUNDLED and not Path(source).expanduser().is_file()


def _read(cfg: DataConfig, source: str, split: str, read: dict) -> Examples:
    """A file of at least --arrow_from_mb through Arrow (`data_arrow`), else into memory."""
    from bertft.data_arrow import read_arrow, use_arrow

    if use_arrow(source, cfg.arrow_from_mb):
        return read_arrow(source, read["text_column"], read["label_column"], read["strict"])
    return read_examples(source, split=split, **read)


def _in_memory(examples, limit: int | None, seed: int) -> Examples:
    if hasattr(examples, "materialize"):
        return stratified_sample(examples, limit, seed).materialize()
    return examples


def stratified_split(examples: Examples, fraction: float, seed: int) -> tuple[Examples, Examples]:
    """Hold out `fraction` of each class (seeded). A class too small to split stays in train.
    Works on integer label codes: no per-row Python objects on a large Arrow-backed set."""
    import numpy as np
    from sklearn.model_selection import train_test_split

    names, codes, counts = np.unique(
        np.asarray(examples.labels), return_inverse=True, return_counts=True
    )
    splittable = np.flatnonzero(counts[codes] >= 2)
    singletons = np.flatnonzero(counts[codes] < 2)
    n_val = round(len(splittable) * fraction)
    if n_val < int((counts >= 2).sum()):
        raise BertftError(
            f"{examples.origin}: too few examples ({len(examples)}) to hold out "
            f"{fraction:.0%} for validation; pass --validation_data"
        )
    train_idx, val_idx = train_test_split(
        splittable, test_size=n_val, random_state=seed, stratify=codes[splittable]
    )
    train_idx = np.sort(np.concatenate([train_idx, singletons]))
    return examples.subset(train_idx.tolist()), examples.subset(np.sort(val_idx).tolist())


def _sample(examples: Examples, limit: int | None, seed: int) -> Examples:
    return stratified_sample(examples, limit, seed)


def stratified_sample(examples: Examples, limit: int | None, seed: int) -> Examples:
    """At most `limit` examples (seeded), each label keeping its share where the labels allow
    (a class of one text cannot be stratified: then a plain random sample); in file order."""
    if limit is None or limit >= len(examples):
        return examples
    import random

    labels = examples.labels
    counts = Counter(labels) if labels is not None else Counter()
    if labels is None or min(counts.values()) < 2 or limit < len(counts):
        return examples.subset(sorted(random.Random(seed).sample(range(len(examples)), limit)))
    from sklearn.model_selection import train_test_split

    kept, _ = train_test_split(
        list(range(len(examples))), train_size=limit, random_state=seed, stratify=labels
    )
    return examples.subset(sorted(kept))

"""Load labelled texts from wherever the user keeps them, checked, as training's splits.

Everything is refused here, before a model is loaded: a bad file costs the user a second, not
an interrupted training run. Errors name the file, the row and the column. Files are read by
`data.formats` (the readers predict uses too), cells by `data.cells`, columns by
`data.columns`, and files of at least --arrow_from_mb through `data.arrow`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from bertft.config import DataConfig
from bertft.data.arrow import read_arrow, use_arrow
from bertft.data.bundled import BUNDLED, load_bundled
from bertft.data.checks import Checker
from bertft.data.columns import Columns, Model, resolve
from bertft.data.drop import drop_rows
from bertft.data.examples import Examples, ExampleSet
from bertft.data.formats import (
    FILE_FORMATS,
    Chunk,
    chunks_of,
    dataset_chunks,
    input_format,
    load_hub,
    load_saved,
    read_chunks,
)
from bertft.data.split import stratified_sample
from bertft.errors import BertftError
from bertft.tasks import Task, TaskSettings, choose_task

CHUNK_ROWS = 8192  # records read at a time; the examples are kept whole


KeepAll = Callable[[str, list], bool]


@dataclass
class LabeledSplits:
    train: ExampleSet
    validation: Examples
    test: Examples | None
    task: Task
    task_reason: str = ""  # why this task: what `--task auto` saw
    # False where no validation set was given and none was split off: it is the training texts
    # (the few-shot recipe's choice, `keep_all` of load_splits)
    held_out: bool = True
    dropped: int = 0  # training rows left out by --drop_label_issues


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
    columns to take where the user names none and the data has them; a model that has them
    reads pairs exactly when it names a `text_pair` column."""
    if source in BUNDLED:
        return _bundled(source, text_pair_column, strict)
    chunks, origin = _open(source, split, config)
    first = next(chunks, None)
    if first is None:
        raise BertftError(f"{origin}: no texts")
    asked = Columns(text_column, text_pair_column, label_column)
    model = Model(preferred, "text_pair" in preferred) if preferred else None
    columns = resolve(
        list(first.records[0]),
        origin,
        asked,
        model,
        labels="required" if labels_required else "optional",
    )
    return _checked(_chained(first, chunks), origin, columns, strict)


def _bundled(name: str, text_pair_column: str | None, strict: bool) -> Examples:
    texts, labels, *pairs = load_bundled(name)
    if text_pair_column and not pairs:
        raise BertftError(f"--text_pair_column: the bundled dataset '{name}' has no pairs")
    columns = Columns("text", "text_pair" if pairs else None, "label")
    records = [{"text": t, "label": y} for t, y in zip(texts, labels, strict=True)]
    if pairs:
        for record, pair in zip(records, pairs[0], strict=True):
            record["text_pair"] = pair
    examples = _checked(
        chunks_of(records, CHUNK_ROWS), f"bundled dataset '{name}'", columns, strict
    )
    examples.label_column = "label"
    return examples


def _open(source: str, split: str, config: str | None) -> tuple[Iterator[Chunk], str]:
    """The chunks of a file, a saved dataset folder or a hub dataset, and its name."""
    path = Path(source).expanduser()
    if path.is_dir():
        dataset, origin = load_saved(path, split)
        return dataset_chunks(dataset, CHUNK_ROWS), origin
    if path.is_file():
        input_format(path, FILE_FORMATS, " or a folder saved with datasets.save_to_disk")
        return read_chunks(path, CHUNK_ROWS), str(path)
    # "user/name" is a hub id; "data/train.csv", "./x" or "/x" are paths that do not exist.
    if path.suffix.lower() in FILE_FORMATS or source.startswith((".", "/", "~")):
        raise BertftError(f"{source}: no such file or folder")
    dataset, origin = load_hub(source, split, config, ", ".join(BUNDLED))
    return dataset_chunks(dataset, CHUNK_ROWS), origin


def _chained(first: Chunk, rest: Iterator[Chunk]) -> Iterator[Chunk]:
    yield first
    yield from rest


def _checked(chunks: Iterator[Chunk], origin: str, columns: Columns, strict: bool) -> Examples:
    checker = Checker(origin, columns)
    texts: list[str] = []
    pairs: list[str] | None = [] if columns.text_pair else None
    labels: list | None = [] if columns.label else None
    rows: list[str] = []
    for chunk in chunks:
        checked = checker.check(chunk)
        names = chunk.rows
        rows.extend(names[i] for i in checked.kept)
        texts.extend(checked.texts)
        if pairs is not None:
            pairs.extend(checked.pairs)
        if labels is not None:
            labels.extend(checked.labels)
    checker.finish(strict, len(texts))
    assert columns.text is not None
    return Examples(
        texts, labels, origin, rows, columns.text, columns.label, pairs, columns.text_pair
    )


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
    dropped = 0
    if cfg.drop_label_issues:  # before the split: the rows are the file's, as the audit read it
        train, dropped = drop_rows(train.in_memory(), Path(cfg.drop_label_issues))
    for kind in ("train", "validation", "test"):
        source = getattr(cfg, f"{kind}_data", None) or cfg.data
        named = getattr(cfg, f"{kind}_split_name")
        if named and named != "train" and not _has_splits(source):
            raise BertftError(
                f"{kind}_split_name {named}: {source} has no named splits (only saved and hub "
                f"datasets do)" + (f"; give {kind}_data instead" if kind != "train" else "")
            )
    task_class, reason = choose_task(cfg.task, train, settings)
    if not getattr(task_class, "reads_arrow", False):
        train = train.in_memory()  # only single-label labels are kept as Arrow codes
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
    return LabeledSplits(train, validation, test, task, reason, held_out, dropped)


def _has_splits(source: str) -> bool:
    return source not in BUNDLED and not Path(source).expanduser().is_file()


def _read(cfg: DataConfig, source: str, split: str, read: dict) -> ExampleSet:
    """A file of at least --arrow_from_mb through Arrow (`data.arrow`), else into memory."""
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


def _in_memory(examples: ExampleSet, limit: int | None, seed: int) -> Examples:
    """An evaluation set in memory (an Arrow-backed one is sampled first, then loaded)."""
    return stratified_sample(examples, limit, seed).in_memory()


def _sample(examples: ExampleSet, limit: int | None, seed: int) -> ExampleSet:
    return stratified_sample(examples, limit, seed)

"""Training from Python: `bertft.train(data, **settings)`, the same run as `bertft train`.

>>> import bertft, pandas as pd
>>> df = pd.DataFrame({"text": [...], "label": [...]})
>>> result = bertft.train(df, epochs=2, output_dir="runs/mine")
>>> result.metrics["validation"]["accuracy"]
>>> result.classifier(["a new text"])          # [{"label": ..., "score": ...}], as pipeline()

Settings are the flags' names (or their Hugging Face aliases, or any other TrainingArguments
setting). Errors raise `BertftError`; progress is reported through `logging` (logger "bertft").
"""

from __future__ import annotations

import functools
import hashlib
import io
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bertft.config import TrainConfig, normalize_keys, train_config_from
from bertft.errors import BertftError
from bertft.files import cache_root, write_bytes

if TYPE_CHECKING:
    from bertft.inference.classifier import Classifier

log = logging.getLogger(__name__)

DATA_SETTINGS = ("data", "validation_data", "test_data")


@dataclass
class TrainResult:
    """What a finished training run left: its folder, its metrics, and the model to use."""

    output_dir: Path
    metrics: dict[str, Any]
    config: TrainConfig = field(repr=False)

    @functools.cached_property
    def classifier(self) -> Classifier:
        """The trained model as a `Classifier` (loaded from `output_dir` on first use)."""
        from bertft.inference.classifier import Classifier

        return Classifier.from_pretrained(self.output_dir)


def train(data: Any = None, **settings: Any) -> TrainResult:
    """Fine-tune a model on `data` and return the run's folder, metrics and `Classifier`.

    `data`: a bundled dataset name or a path (CSV/TSV/JSON/JSONL/Parquet file, saved dataset
    folder, hub name), a pandas DataFrame, a `datasets.Dataset` or `DatasetDict` (its train,
    validation and test splits), or a list of dicts such as `{"text": ..., "label": ...}`.
    `validation_data=` and `test_data=` take the same kinds. In-memory data is written once to
    a Parquet file in bertft's cache (`$BERTFT_CACHE`, else `~/.cache/bertft`: `data/`, named
    by its content) so that
    the run records where its texts came from and a rerun resumes.
    `settings`: `bertft train`'s settings by name (`epochs=2`, `model_id=...`), their Hugging
    Face names (`num_train_epochs=2`) or any other TrainingArguments field (`optim="sgd"`)."""
    values = normalize_keys(settings, "settings")
    if data is not None:
        if "data" in values:
            raise BertftError("data is given twice: as the first argument and as data=")
        values["data"] = data
    values |= _materialize(values)
    return run(train_config_from(values, "settings"))


def run(cfg: TrainConfig) -> TrainResult:
    """Train with a checked `TrainConfig` (what `bertft train` calls)."""
    from bertft.training.train import train as fit

    metrics = fit(cfg)
    return TrainResult(cfg.resolved_output_dir(), metrics, cfg)


# --- in-memory data -> files a run can record -------------------------------------------------


def _materialize(values: dict[str, Any]) -> dict[str, Any]:
    """Data settings holding in-memory data, as paths of files written from it."""
    out: dict[str, Any] = {}
    for name in DATA_SETTINGS:
        value = values.get(name)
        if value is None or isinstance(value, str):
            continue
        if isinstance(value, os.PathLike):
            out[name] = os.fspath(value)
        elif _is_dataset_dict(value):
            if name != "data":
                raise BertftError(f"{name}: give one split (a Dataset), not a DatasetDict")
            out |= _splits_of(value, values)
        else:
            out[name] = _write_frame(_frame_of(value, name), name)
    return out


def _is_dataset_dict(value: Any) -> bool:
    return type(value).__name__ in ("DatasetDict", "IterableDatasetDict")


def _splits_of(splits: Any, values: dict[str, Any]) -> dict[str, str]:
    """A DatasetDict's train / validation / test splits (or the ones named by the
    *_split_name settings) as files for data / validation_data / test_data."""
    names = {
        "data": values.get("train_split_name") or "train",
        "validation_data": values.get("validation_split_name") or "validation",
        "test_data": values.get("test_split_name") or "test",
    }
    if names["data"] not in splits:
        raise BertftError(
            f"data: the DatasetDict has no '{names['data']}' split (it has "
            f"{', '.join(splits)}); name the training split with train_split_name"
        )
    out = {}
    for setting, split in names.items():
        if split not in splits:
            continue
        if values.get(setting) is not None and setting != "data":
            raise BertftError(f"{setting} is given twice: as a setting and as split '{split}'")
        out[setting] = _write_frame(_frame_of(splits[split], f"data[{split!r}]"), setting)
    # The split names now belong to those files, which have no splits of their own.
    for key in ("train_split_name", "validation_split_name", "test_split_name"):
        values.pop(key, None)
    return out


def _frame_of(value: Any, name: str):
    import pandas as pd

    if isinstance(value, pd.DataFrame):
        frame = value
    elif type(value).__name__ == "Dataset" and hasattr(value, "features"):
        from bertft.data.formats import with_label_names

        frame = with_label_names(value)  # ClassLabel ids -> their names
    elif isinstance(value, list):
        bad = next((i for i, row in enumerate(value) if not isinstance(row, dict)), None)
        if bad is not None:
            raise BertftError(
                f"{name}: item {bad} is {type(value[bad]).__name__}; expected a list of dicts "
                f'like {{"text": ..., "label": ...}}'
            )
        frame = pd.DataFrame(value)
    else:
        raise BertftError(
            f"{name}: expected a path, a pandas DataFrame, a datasets Dataset or DatasetDict, "
            f"or a list of dicts; got {type(value).__name__}"
        )
    if frame.empty:
        raise BertftError(f"{name}: no rows")
    return frame


def _write_frame(frame, name: str) -> str:
    """`frame` as a Parquet file named by its content: the same data, the same path."""
    import pyarrow as pa

    frame = frame.reset_index(drop=True)
    _refuse_mixed_columns(frame, name)
    buffer = io.BytesIO()
    try:
        frame.to_parquet(buffer, index=False)
    except pa.ArrowException as e:  # what the kinds check lets through (a list of str and int)
        raise BertftError(f"{name}: cannot be saved ({' '.join(str(e).split())})") from None
    content = buffer.getvalue()
    digest = hashlib.sha256(content).hexdigest()[:16]
    path = cache_root() / "data" / f"{digest}.parquet"
    if not path.is_file():
        write_bytes(path, content)
    log.info("%s: %d rows, saved for the run as %s", name, len(frame), path)
    return str(path)


def _refuse_mixed_columns(frame, name: str) -> None:
    """A column holding two kinds of values is refused before Parquet fails on it with a
    traceback. Which column is the text and which the label is not known yet, so a text column
    of strings and numbers is refused too: a Parquet column has one type, and converting would
    also turn a label 1 among "pos"/"neg" into a class "1". A column of numbers only is kept as
    numbers, and read as texts where it is the text column."""
    from bertft.data.cells import first_two_kinds

    for column in frame.columns:
        if frame[column].dtype != object:
            continue  # numpy columns hold one type
        values = frame[column].tolist()
        if mixed := first_two_kinds(values, _kind):
            (_, a), (_, b) = mixed
            raise BertftError(
                f"{name}: column '{column}' mixes {type(values[a]).__name__} and "
                f"{type(values[b]).__name__} (row {b + 1}: {values[b]!r}); give one kind "
                f"(texts: convert them with str)"
            )


def _kind(value) -> str | None:
    """A value's kind for Parquet: ints and floats are one (numbers); None and NaN none."""
    import numbers

    import numpy as np
    import pandas as pd

    if value is None or value is pd.NA or isinstance(value, float) and value != value:
        return None
    if isinstance(value, bool | np.bool_):
        return "bool"
    if isinstance(value, numbers.Number):
        return "number"
    if isinstance(value, list | tuple | np.ndarray):
        return "list"
    return type(value).__name__

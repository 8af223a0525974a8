"""Training data through memory-mapped Arrow files, --max_steps and stratified eval samples."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter

import pytest
from helpers import FILLER, TOPICS, tiny_train_args, topic_frame

from bertft.cli import main
from bertft.config import DataConfig
from bertft.data.load import load_splits
from bertft.errors import BertftError

pytestmark = pytest.mark.unit


def test_arrow_path_reads_checks_and_splits_like_the_in_memory_one(tmp_path, caplog):
    frame = topic_frame(300, seed=2)
    frame.loc[5, "text"] = " "
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    in_memory = load_splits(DataConfig(data=str(path)), seed=3)
    caplog.clear()
    # The library logs (the CLI puts the lines on stderr): read the record itself, which does
    # not depend on whether an earlier test had set up the CLI's handler.
    with caplog.at_level("WARNING", logger="bertft"):
        arrow = load_splits(DataConfig(data=str(path), arrow_from_mb=0), seed=3)
    assert "skipped 1 empty text(s)" in caplog.text
    assert type(arrow.train).__name__ == "ArrowExamples"  # texts stay on disk
    assert arrow.task.names == in_memory.task.names
    assert len(arrow.train) == len(in_memory.train) == 239
    assert arrow.validation.texts == in_memory.validation.texts
    assert Counter(arrow.train.labels) == Counter(in_memory.train.labels)


def test_arrow_path_names_bad_rows(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("text,label\nrain,weather\nsoup,\n")
    with pytest.raises(BertftError, match=r"d\.csv, row 2 \(line 3\), column 'label': missing"):
        load_splits(DataConfig(data=str(path), arrow_from_mb=0), seed=0)
    path.write_text("text,label\nrain,weather\n,food\n")
    with pytest.raises(BertftError, match=r"row 2 \(line 3\), column 'text': empty text"):
        load_splits(DataConfig(data=str(path), arrow_from_mb=0, strict=True), seed=0)
    jsonl = tmp_path / "d.jsonl"
    jsonl.write_text('{"text": "rain", "label": 1}\n{"text": "soup", "label": 2}\n' * 20)
    splits = load_splits(DataConfig(data=str(jsonl), arrow_from_mb=0), seed=0)
    assert splits.task.names == ("1", "2")  # JSON numbers are label names like any other


def test_max_eval_samples_is_a_stratified_sample(tmp_path):
    frame = topic_frame(600, seed=1)
    # Sorted by label: the first rows would all be one class.
    frame = frame.sort_values("label", kind="stable")
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    cfg = DataConfig(data=str(path), validation_data=str(path), max_eval_samples=30)
    counts = Counter(load_splits(cfg, seed=0).validation.labels)
    assert counts == {"food": 10, "sports": 10, "weather": 10}


@pytest.mark.trains
def test_max_steps_trains_evaluates_and_saves_where_it_stops(tiny_model, tmp_path):
    data = tmp_path / "d.csv"
    topic_frame(600).to_csv(data, index=False)
    out = tmp_path / "run"
    args = tiny_train_args(tiny_model, data, out, "--max_steps", "7", "--arrow_from_mb", "0")
    assert main(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    state = json.loads((out / "checkpoints" / "checkpoint-7" / "trainer_state.json").read_text())
    assert state["global_step"] == 7 and metrics["validation"]["samples"] == 120
    assert any("eval_loss" in entry for entry in metrics["history"])


def _big_csv(path, n: int) -> None:
    rng = random.Random(0)
    names = list(TOPICS)
    with path.open("w") as f:
        f.write("text,label\n")
        for i in range(n):
            label = names[i % 3]
            words = rng.choices(TOPICS[label], k=4) + rng.choices(FILLER, k=3)
            f.write(f"{' '.join(words)} {i},{label}\n")


def _peak_train_mb(tiny_model, data, out) -> float:
    args = tiny_train_args(
        tiny_model,
        data,
        out,
        "--max_steps",
        "3",
        "--max_eval_samples",
        "300",
        "--arrow_from_mb",
        "0",
    )
    code = (
        "import resource, sys; from bertft.cli import main; rc = main(sys.argv[1:]); "
        "peak = max(resource.getrusage(w).ru_maxrss for w in "
        "(resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)); print(peak / 1024); sys.exit(rc)"
    )  # the children: datasets' tokenizing processes
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_CACHE": str(out.parent / "cache")}
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=900
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (out / "metrics.json").is_file()
    return float(done.stdout.split()[-1])


@pytest.mark.trains
@pytest.mark.subprocess
@pytest.mark.slow
def test_a_300k_row_csv_starts_training_within_bounded_memory(tiny_model, tmp_path):
    """300,000 rows (10x 30,000): the run's peak memory grows by a few percent, not 10x: the
    texts and their tokens stay in Arrow files on disk (what grows is label codes, indices
    and lengths, a few bytes a row, and the memory-mapped pages read)."""
    peaks, sizes = {}, {}
    for n in (30_000, 300_000):
        data = tmp_path / f"d{n}.csv"
        _big_csv(data, n)
        sizes[n] = data.stat().st_size / 2**20
        peaks[n] = _peak_train_mb(tiny_model, data, tmp_path / f"run{n}")
    assert peaks[300_000] < 1.25 * peaks[30_000], (peaks, sizes)

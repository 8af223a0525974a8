"""A model remembers the columns of the file it trained on, so that predict, evaluate and export
find them in files shaped like it without the flags training needed."""

from __future__ import annotations

import json

import pytest
from helpers import tiny_train_args
from task_data import pair_frame

from bertft.cli import main

pytestmark = pytest.mark.trains

NAMES = {"sentence1": "query", "sentence2": "reply", "label": "verdict"}


@pytest.fixture(scope="module")
def trained(tiny_model, tmp_path_factory):
    """A pair model trained on columns no default finds: query, reply, verdict."""
    root = tmp_path_factory.mktemp("columns")
    pair_frame(120).rename(columns=NAMES).to_csv(root / "train.csv", index=False)
    flags = ["--text_column", "query", "--text_pair_column", "reply", "--label_column", "verdict"]
    out = root / "run"
    assert main(tiny_train_args(tiny_model, root / "train.csv", out, "--epochs", "1", *flags)) == 0
    return root, out


def test_the_training_columns_are_saved(trained):
    _, out = trained
    config = json.loads((out / "config.json").read_text())
    assert config["bertft_columns"] == {"text": "query", "text_pair": "reply", "label": "verdict"}


def test_predict_evaluate_and_export_find_them_without_flags(trained, capsys):
    root, out = trained
    new = pair_frame(30, seed=1).rename(columns=NAMES)
    new.insert(0, "id", range(30))
    new.to_csv(root / "new.csv", index=False)

    assert main(["predict", "--model", str(out), "--input", str(root / "new.csv"),
                 "--output", str(root / "pred.jsonl")]) == 0  # fmt: skip
    rows = [json.loads(line) for line in (root / "pred.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == [str(i) for i in range(30)]  # CSV cells are text
    # The same answers as when every column is named: the right columns were read.
    named = ["--text_column", "query", "--text_pair_column", "reply"]
    assert main(["predict", "--model", str(out), "--input", str(root / "new.csv"), *named,
                 "--output", str(root / "named.jsonl")]) == 0  # fmt: skip
    want = [json.loads(line) for line in (root / "named.jsonl").read_text().splitlines()]
    assert [(r["label"], r["score"]) for r in rows] == [(r["label"], r["score"]) for r in want]

    eval_dir = root / "eval"
    assert main(["evaluate", "--model", str(out), "--data", str(root / "new.csv"),
                 "--output_dir", str(eval_dir)]) == 0  # fmt: skip
    metrics = json.loads((eval_dir / "metrics.json").read_text())
    assert metrics["samples"] == 30 and "accuracy" in metrics

    assert main(["export", "--model", str(out), "--eval_data", str(root / "new.csv")]) == 0
    assert "30 texts" in capsys.readouterr().out


def test_files_without_them_fall_back_to_the_usual_names(trained):
    """The remembered names are looked for first, not required: a file with the usual pair
    columns (sentence1, sentence2, label) is read as before."""
    root, out = trained
    pair_frame(30, seed=2).to_csv(root / "usual.csv", index=False)
    eval_dir = root / "usual_eval"
    assert main(["evaluate", "--model", str(out), "--data", str(root / "usual.csv"),
                 "--output_dir", str(eval_dir)]) == 0  # fmt: skip
    assert json.loads((eval_dir / "metrics.json").read_text())["samples"] == 30
    assert main(["predict", "--model", str(out), "--input", str(root / "usual.csv"),
                 "--output", str(root / "usual.jsonl")]) == 0  # fmt: skip
    rows = [json.loads(line) for line in (root / "usual.jsonl").read_text().splitlines()]
    assert len(rows) == 30 and all(r["sentence2"] for r in rows)


def test_a_file_with_the_text_but_not_the_second_text_is_refused(trained, capsys):
    root, out = trained
    frame = pair_frame(10, seed=3).rename(columns=NAMES).drop(columns=["reply"])
    frame.to_csv(root / "half.csv", index=False)
    assert main(["evaluate", "--model", str(out), "--data", str(root / "half.csv")]) == 2
    assert "reads pairs of texts" in capsys.readouterr().err

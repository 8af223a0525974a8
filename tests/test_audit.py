"""bertft audit: out-of-fold scores ranked by confident learning; --drop_label_issues."""

from __future__ import annotations

import csv
import json

import pytest
from helpers import topic_frame

from bertft.cli import main

pytestmark = pytest.mark.trains

FLAGS = ["--learning_rate", "5e-3", "--epochs", "8", "--per_device_train_batch_size", "16",
         "--warmup_ratio", "0", "--precision", "fp32", "--recipe", "standard"]  # fmt: skip


def test_an_audit_finds_flipped_labels_resumes_and_a_retrain_drops_them(
    tiny_model, tmp_path, caplog, capsys
):
    frame = topic_frame(240)
    flipped = list(range(0, 240, 20))  # 12 rows given the next topic's label
    names = ["sports", "weather", "food"]
    for i in flipped:
        frame.loc[i, "label"] = names[(names.index(frame.loc[i, "label"]) + 1) % 3]
    data, out = tmp_path / "topics.csv", tmp_path / "audit"
    frame.to_csv(data, index=False)
    args = ["audit", "--model_id", str(tiny_model), "--data", str(data), "--output_dir", str(out),
            "--folds", "3", *FLAGS]  # fmt: skip
    assert main(args) == 0
    with (out / "label_issues.csv").open() as f:
        issues = list(csv.DictReader(f))
    found = {int(r["row"]) for r in issues}
    # The tiny model learns from the flipped rows too: most, not all, are found.
    assert len(found & set(flipped)) >= 7 and len(found) <= 24
    record = json.loads((out / "audit.json").read_text())
    assert record["rows"] == 240 and record["flagged"] == len(issues)
    assert "Most likely wrong" in (out / "report.html").read_text()
    # Interrupted after two folds: the third is trained again, the two others are kept.
    (out / "folds" / "fold-3" / "scores.npy").unlink()
    (out / "audit.json").unlink()
    caplog.clear()
    assert main(args) == 0
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("fold ")]
    assert [s.split(":")[0] + ("" if "kept" in s else " trained") for s in said] == [
        "fold 1 of 3", "fold 2 of 3", "fold 3 of 3 trained"
    ]  # fmt: skip
    with (out / "label_issues.csv").open() as f:
        assert {int(r["row"]) for r in csv.DictReader(f)} == found

    # Retrain without the flagged rows.
    run = tmp_path / "run"
    train = ["train", "--model_id", str(tiny_model), "--data", str(data), "--output_dir", str(run),
             "--drop_label_issues", str(out / "label_issues.csv"), *FLAGS]  # fmt: skip
    assert main(train) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["data"]["dropped_label_issues"]["rows"] == len(found)
    assert sum(metrics["data"]["samples"].values()) == 240 - len(found)
    # Other data audited into the same folder is refused, naming what differs.
    frame.iloc[:200].to_csv(data, index=False)
    capsys.readouterr()
    assert main(args) == 2
    said = capsys.readouterr().err
    assert (
        "holds an audit of other data or settings (" in said and "rows: 240 then, 200 now" in said
    )


def test_bad_audit_and_drop_inputs_are_refused(tiny_model, tmp_path, capsys):
    data = tmp_path / "topics.csv"
    topic_frame(60).to_csv(data, index=False)
    assert main(["audit", "--data", str(data), "--folds", "1"]) == 2
    assert "--folds must be at least 2" in capsys.readouterr().err
    listed = tmp_path / "issues.csv"
    listed.write_text("row,text\n3,not the text of row 3\n")
    args = ["train", "--model_id", str(tiny_model), "--data", str(data), "--output_dir",
            str(tmp_path / "run"), "--drop_label_issues", str(listed), *FLAGS]  # fmt: skip
    assert main(args) == 2
    assert "holds another text than the one listed" in capsys.readouterr().err
    listed.write_text("index\n3\n")
    assert main(args) == 2
    assert "missing row, text" in capsys.readouterr().err

"""train -> save -> load -> evaluate -> predict, through the CLI, on a tiny model built offline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from helpers import tiny_train_args, topic_frame

from bertft.cli import main

pytestmark = pytest.mark.unit


@pytest.fixture
def trained(tiny_trained):
    """The session's tiny run (conftest.tiny_trained: 240 topic texts, 8 epochs), which these
    tests only read; its data is `topics.csv` beside it."""
    return tiny_trained


def test_training_learns_the_topics_and_writes_a_complete_folder(trained):
    metrics = json.loads((trained / "metrics.json").read_text())
    assert metrics["labels"] == ["food", "sports", "weather"]
    assert metrics["validation"]["accuracy"] >= 0.9
    assert metrics["validation"]["samples"] == 48  # 20% of 240, stratified
    # The throughput is the run's own: 192 texts x 8 epochs over the training time.
    run = metrics["train"]
    assert run["train_samples_per_second"] == pytest.approx(192 * 8 / run["train_runtime"], 0.01)
    matrix = metrics["validation"]["confusion_matrix"]["matrix"]
    assert [sum(row) for row in matrix] == [16, 16, 16]
    # Loss went down over the run: it learnt, not just ran.
    losses = [h["loss"] for h in metrics["history"] if "loss" in h]
    assert losses[-1] < losses[0]
    for name in (
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "train_config.yaml",
        "README.md",
        "checkpoints/run.json",
    ):
        assert (trained / name).is_file(), name
    assert yaml.safe_load((trained / "train_config.yaml").read_text())["learning_rate"] == 5e-3


def test_saved_folder_loads_in_plain_transformers_with_label_names(trained):
    from transformers import AutoModelForSequenceClassification, pipeline

    model = AutoModelForSequenceClassification.from_pretrained(trained)
    assert model.config.id2label == {0: "food", 1: "sports", 2: "weather"}
    result = pipeline("text-classification", model=str(trained))("rain and storm with snow")
    assert result[0]["label"] == "weather"


def test_model_card_has_metadata_and_the_results(trained):
    text = (trained / "README.md").read_text()
    _, front, body = text.split("---\n", 2)
    meta = yaml.safe_load(front)
    assert meta["pipeline_tag"] == "text-classification"
    metrics = json.loads((trained / "metrics.json").read_text())
    reported = {m["type"]: m["value"] for m in meta["model-index"][0]["results"][0]["metrics"]}
    assert reported["accuracy"] == round(metrics["validation"]["accuracy"], 4)
    assert "`food`, `sports`, `weather`" in body


def test_classifier_predicts_in_input_order(trained):
    from bertft import Classifier

    clf = Classifier.from_pretrained(trained, batch_size=2)
    texts = ["goal", "rain snow storm cold", "cheese bread soup", "team match win score ball"]
    assert clf.predict(texts) == ["sports", "weather", "food", "sports"]
    probs = clf.predict_proba(texts)
    assert probs.shape == (4, 3)
    assert abs(probs.sum(axis=1) - 1).max() < 1e-5
    top = clf.top_k(texts[:1], k=2)[0]
    assert top[0][0] == "sports" and top[0][1] >= top[1][1]


def test_evaluate_writes_the_same_metrics_as_training(trained, tmp_path, capsys):
    data = tmp_path / "holdout.jsonl"
    topic_frame(60, seed=7).to_json(data, orient="records", lines=True)
    out = tmp_path / "eval"
    assert (
        main(["evaluate", "--model", str(trained), "--data", str(data), "--output_dir", str(out)])
        == 0
    )
    report = json.loads((out / "metrics.json").read_text())
    assert report["samples"] == 60 and report["accuracy"] >= 0.9
    assert set(report["per_class"]) == {"food", "sports", "weather"}
    assert len((out / "predictions.jsonl").read_text().splitlines()) == 60
    assert "confusion matrix" in capsys.readouterr().out


def test_evaluate_on_the_training_data_uses_the_part_held_out(trained, tmp_path, capsys):
    data = trained.parent / "." / "topics.csv"  # the training file, spelled differently
    out, every = tmp_path / "held-out", tmp_path / "every"
    flags = ("--data", str(data), "--output_dir", str(out))
    assert main(["evaluate", "--model", str(trained), *flags]) == 0
    report = json.loads((out / "metrics.json").read_text())
    training = json.loads((trained / "metrics.json").read_text())["validation"]
    assert report["held_out_from_training"] and report["samples"] == training["samples"] == 48
    # The very texts training validated on: the mean loss over any other 48 would differ.
    assert report["loss"] == pytest.approx(training["loss"], rel=1e-5)
    assert report["accuracy"] == pytest.approx(training["accuracy"])
    assert "evaluating the 48 texts training held out for validation" in capsys.readouterr().err
    flags = ("--data", str(data), "--output_dir", str(every), "--all_rows")
    assert main(["evaluate", "--model", str(trained), *flags]) == 0
    report = json.loads((every / "metrics.json").read_text())
    assert not report["held_out_from_training"] and report["samples"] == 240


@pytest.mark.trains
def test_the_held_out_part_is_found_from_any_directory(tiny_model, tmp_path, monkeypatch):
    """Training named its file relative to where it ran; evaluate, run from elsewhere and
    naming the file another way, still sees that it is the training data."""
    topic_frame(240).to_csv(tmp_path / "topics.csv", index=False)
    monkeypatch.chdir(tmp_path)
    assert main(tiny_train_args(tiny_model, "topics.csv", "run", "--epochs", "1")) == 0
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    flags = ["--data", "../topics.csv", "--output_dir", "eval"]
    assert main(["evaluate", "--model", "../run", *flags]) == 0
    report = json.loads(Path("eval/metrics.json").read_text())
    assert report["held_out_from_training"] and report["samples"] == 48


def test_evaluate_refuses_labels_the_model_does_not_know(trained, tmp_path, capsys):
    frame = topic_frame(6)
    frame.loc[2, "label"] = "politics"
    data = tmp_path / "other.csv"
    frame.to_csv(data, index=False)
    assert main(["evaluate", "--model", str(trained), "--data", str(data)]) == 2
    assert (
        "other.csv, row 3 (line 4), column 'label': label 'politics' never appears in the "
        "training data (training labels: food, sports, weather)"
    ) in capsys.readouterr().err


def test_predict_texts_to_stdout_and_files_in_input_order(trained, tmp_path, capsys):
    assert (
        main(
            [
                "predict",
                "--model",
                str(trained),
                "--text",
                "snow and rain",
                "--text",
                "the pasta and cheese soup",
                "--top_k",
                "2",
            ]
        )
        == 0
    )
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["label"] for r in rows] == ["weather", "food"]
    assert len(rows[0]["top_k"]) == 2 and rows[0]["top_k"][0]["label"] == "weather"

    lines = tmp_path / "in.txt"
    lines.write_text("goal team\n\nsun sky warm\n")
    out = tmp_path / "out.csv"
    assert (
        main(["predict", "--model", str(trained), "--input", str(lines), "--output", str(out)]) == 0
    )
    written = out.read_text().splitlines()
    assert written[0] == "text,label,score"
    assert [r.split(",")[1] for r in written[1:]] == ["sports", "weather"]

    csv_in = tmp_path / "in.csv"
    topic_frame(9, seed=3).to_csv(csv_in, index=False)
    assert (
        main(
            [
                "predict",
                "--model",
                str(trained),
                "--input",
                str(csv_in),
                "--output",
                str(tmp_path / "out.jsonl"),
            ]
        )
        == 0
    )
    rows = [json.loads(x) for x in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["text"] for r in rows] == topic_frame(9, seed=3).text.tolist()


@pytest.mark.trains
def test_an_output_folder_holding_a_finished_run_is_refused_unless_overwritten(
    trained, tiny_model, tmp_path, capsys
):
    data = tmp_path / "d.csv"
    topic_frame(60).to_csv(data, index=False)
    assert main(tiny_train_args(tiny_model, data, trained, "--epochs", "1")) == 2
    assert "already holds a finished run; pass --overwrite_output_dir" in capsys.readouterr().err

    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    assert main(tiny_train_args(tiny_model, data, other, "--epochs", "1")) == 2
    assert "already holds files of another run" in capsys.readouterr().err
    assert (other / "notes.txt").read_text() == "mine"  # nothing touched

    assert (
        main(tiny_train_args(tiny_model, data, other, "--epochs", "1", "--overwrite_output_dir"))
        == 0
    )
    assert not (other / "notes.txt").exists() and (other / "metrics.json").exists()


@pytest.mark.trains
def test_unfinished_run_resumes_and_refuses_different_data(tiny_model, tmp_path, capsys):
    data = tmp_path / "d.csv"
    topic_frame(60).to_csv(data, index=False)
    out = tmp_path / "run"
    assert main(tiny_train_args(tiny_model, data, out, "--epochs", "2")) == 0
    # Make it look interrupted after its first epoch: no metrics.json, newest checkpoint gone.
    (out / "metrics.json").unlink()
    checkpoints = sorted(
        (out / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1])
    )
    import shutil

    shutil.rmtree(checkpoints[-1])
    other = tmp_path / "other.csv"
    topic_frame(90).to_csv(other, index=False)
    assert main(tiny_train_args(tiny_model, other, out, "--epochs", "2")) == 2
    err = capsys.readouterr().err
    assert "its checkpoints come from a different run" in err and "train_samples: 48 then" in err

    assert main(tiny_train_args(tiny_model, data, out, "--epochs", "2")) == 0
    assert f"resuming from {checkpoints[0]}" in capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["train"]["epoch"] == 2


@pytest.mark.trains
def test_yaml_config_with_flags_overriding(tiny_model, topic_csv, tmp_path):
    config = tmp_path / "run.yaml"
    out = tmp_path / "run"
    config.write_text(
        yaml.safe_dump(
            {
                "model_id": str(tiny_model),
                "data": str(topic_csv),
                "output_dir": str(out),
                "learning_rate": 3e-3,
                "epochs": 1,
                "per_device_train_batch_size": 16,
                "precision": "fp32",
                "validation_split": 0.25,
                "recipe": "standard",  # 60 texts a class would train few-shot, holding none out
            }
        )
    )
    assert main(["train", "--config", str(config), "--epochs", "2"]) == 0
    saved = yaml.safe_load((out / "train_config.yaml").read_text())
    assert saved["epochs"] == 2.0 and saved["validation_split"] == 0.25
    assert json.loads((out / "metrics.json").read_text())["validation"]["samples"] == 60


@pytest.mark.trains
def test_freeze_embeddings_keeps_the_word_embeddings_and_still_learns(tiny_model, tmp_path):
    from safetensors.torch import load_file
    from transformers import BertModel

    data = tmp_path / "topics.csv"
    topic_frame(240).to_csv(data, index=False)
    out = tmp_path / "frozen"
    args = tiny_train_args(tiny_model, data, out, "--epochs", "8", "--freeze_embeddings")
    assert main(args) == 0
    before = BertModel.from_pretrained(tiny_model).state_dict()
    after = load_file(out / "model.safetensors")
    name = "embeddings.word_embeddings.weight"
    assert after[f"bert.{name}"].equal(before[name])
    # Everything else trained: position embeddings and the first attention layer moved.
    for other in (
        "embeddings.position_embeddings.weight",
        "encoder.layer.0.attention.self.query.weight",
    ):
        assert not after[f"bert.{other}"].equal(before[other])
    # Random tiny embeddings carry less than pre-trained ones: it learns, if less than in full.
    assert json.loads((out / "metrics.json").read_text())["validation"]["accuracy"] >= 0.6


@pytest.mark.trains
def test_a_test_set_of_another_size_than_validation_is_evaluated(tiny_model, tmp_path, capsys):
    """The Trainer's per-epoch metrics know the validation set's windows; the test set (30
    texts against validation's 48) is reported on its own, in metrics.json and the card."""
    data, test = tmp_path / "topics.csv", tmp_path / "test.jsonl"
    topic_frame(240).to_csv(data, index=False)
    topic_frame(30, seed=5).to_json(test, orient="records", lines=True)
    out = tmp_path / "run"
    assert main(tiny_train_args(tiny_model, data, out, "--test_data", str(test))) == 0
    assert "; test accuracy" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["validation"]["samples"], metrics["test"]["samples"]) == (48, 30)
    assert sum(map(sum, metrics["test"]["confusion_matrix"]["matrix"])) == 30
    assert "| metric | validation | test |" in (out / "README.md").read_text()

"""Multi-label, regression and text pairs end to end on the tiny model: train, evaluate,
predict, the Classifier and plain transformers, and every kind of bad label refused."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from helpers import tiny_train_args, topic_frame
from task_data import pair_frame, regression_frame, write_multi_label

from bertft.cli import main
from bertft.data.load import read_examples
from bertft.errors import BertftError
from bertft.inference.classifier import Classifier
from bertft.tasks import MultiLabel, Regression, SingleLabel, TaskSettings, choose_task

pytestmark = pytest.mark.unit


@pytest.fixture
def multi(tiny_multi_label):
    """A multi-label run on list labels (JSONL); its CSV twin beside it (conftest)."""
    return tiny_multi_label


@pytest.fixture(scope="module")
def regression(tiny_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("regression")
    data = root / "scores.csv"
    regression_frame(300).to_csv(data, index=False)
    out = root / "run"
    args = tiny_train_args(tiny_model, data, out, "--epochs", "10", "--label_column", "score")
    assert main(args) == 0
    return out, data


@pytest.fixture(scope="module")
def pairs(tiny_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("pairs")
    data = root / "pairs.csv"
    # 480 pairs: with 240 the tiny model stalls at 0.67 (one topic never predicted) on 4 seeds
    # of 10 whatever the pooler; with 480, on 1 of 6.
    pair_frame(480).to_csv(data, index=False)
    out = root / "run"
    assert main(tiny_train_args(tiny_model, data, out, "--epochs", "8")) == 0
    return out, data


def _predict(capsys, *args) -> list[dict]:
    capsys.readouterr()
    assert main(["predict", *args]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


# --- choosing the task -----------------------------------------------------------------------


def _examples(tmp_path, name: str, content: str):
    path = tmp_path / name
    path.write_text(content)
    return read_examples(str(path))


def test_auto_chooses_the_task_from_the_labels_and_says_why(tmp_path):
    listed = _examples(tmp_path, "a.jsonl", '{"text": "x", "label": ["a", "b"]}\n')
    assert choose_task("auto", listed, TaskSettings()) == (
        MultiLabel,
        "line 1 has a list of labels",
    )
    csv = _examples(tmp_path, "b.csv", "text,label\nx,a|b\ny,a\n")
    cls, why = choose_task("auto", csv, TaskSettings(label_separator="|"))
    assert cls is MultiLabel and "--label_separator '|'" in why
    numbers = _examples(tmp_path, "c.csv", "text,label\nx,1.5\ny,2\n")
    assert choose_task("auto", numbers, TaskSettings())[0] is Regression
    integers = _examples(tmp_path, "d.csv", "text,label\nx,1\ny,2\n")
    assert choose_task("auto", integers, TaskSettings()) == (SingleLabel, "one name per text")


@pytest.mark.parametrize(
    ("content", "extra", "message"),
    [
        (
            '{"text": "x", "label": "a"}\n{"text": "y", "label": ["a", "b"]}\n',
            ["--task", "single_label"],
            "d.jsonl, line 2, column 'label': a list of labels ['a', 'b'] under "
            "--task single_label; use --task multi_label (or auto)",
        ),
        (
            '{"text": "x", "label": 1.5}\n{"text": "y", "label": "high"}\n',
            ["--task", "regression"],
            # A word among numbers is refused as it is read, naming a row of each kind.
            "d.jsonl, line 2, column 'label': the label 'high' is a string, but line 1 has a "
            "number (1.5); give labels of one kind",
        ),
        (
            '{"text": "x", "label": ["a"]}\n' * 10,
            [],
            "the training labels name only ['a']; a multi-label classifier needs at least two",
        ),
    ],
)
def test_bad_labels_for_the_task_are_refused_in_one_line(
    tiny_model, tmp_path, capsys, content, extra, message
):
    data = tmp_path / "d.jsonl"
    data.write_text(content)
    code = main(tiny_train_args(tiny_model, data, tmp_path / "out", *extra))
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and message in err[0], err


def test_regression_refuses_class_weights(tiny_model, tmp_path, capsys):
    data = tmp_path / "r.csv"
    regression_frame(40).to_csv(data, index=False)
    args = tiny_train_args(tiny_model, data, tmp_path / "out", "--class_weights", "auto")
    assert main(args) == 2
    assert "--class_weights applies to classification" in capsys.readouterr().err


def test_label_smoothing_is_refused_where_there_is_no_softmax(tiny_model, tmp_path, capsys):
    data = tmp_path / "r.csv"
    regression_frame(40).to_csv(data, index=False)
    args = tiny_train_args(tiny_model, data, tmp_path / "out", "--label_smoothing_factor", "0.1")
    assert main(args) == 2
    assert "label smoothing applies to single-label" in capsys.readouterr().err
    assert not (tmp_path / "out" / "model.safetensors").exists()


def test_class_weighted_loss_keeps_label_smoothing():
    """Class weights replace the Trainer's loss; the smoothing asked for must stay in it."""
    import torch

    from bertft.tasks.single_label import SingleLabel

    task = SingleLabel(["a", "b", "c"])
    weights = {"a": 1.0, "b": 2.0, "c": 0.5}
    logits, labels = torch.randn(6, 3), torch.tensor([0, 1, 2, 0, 1, 2])
    got = task.loss(weights, 0.1)({"logits": logits}, labels)
    want = torch.nn.functional.cross_entropy(
        logits, labels, weight=torch.tensor([1.0, 2.0, 0.5]), label_smoothing=0.1
    )
    plain = task.loss(weights)({"logits": logits}, labels)
    assert got == pytest.approx(want.item(), rel=1e-6) and got != pytest.approx(plain.item())


def _recipe_run(tiny_model, data, out, *extra) -> dict:
    """A two-step run of the standard recipe (60 texts would train few-shot), without --epochs
    and --learning_rate unless `extra` gives them: the train_config.yaml it writes."""
    import yaml

    args = ["train", "--model_id", str(tiny_model), "--data", str(data), "--output_dir", str(out),
            "--max_steps", "2", "--precision", "fp32", "--recipe", "standard", *extra]  # fmt: skip
    assert main(args) == 0
    return yaml.safe_load((out / "train_config.yaml").read_text())


@pytest.mark.trains
@pytest.mark.parametrize("task", ["single_label", "multi_label", "regression"])
def test_each_task_trains_with_its_own_recipe_unless_told(task, tiny_model, tmp_path, capsys):
    from bertft.tasks import TASKS

    data, flags = tmp_path / "data.csv", []
    if task == "multi_label":
        data, _ = write_multi_label(tmp_path, n=60)
    elif task == "regression":
        regression_frame(60).to_csv(data, index=False)
        flags = ["--label_column", "score"]
    else:
        topic_frame(60).to_csv(data, index=False)
    recipe = TASKS[task].recipe
    capsys.readouterr()
    config = _recipe_run(tiny_model, data, tmp_path / "default", *flags)
    assert (config["epochs"], config["learning_rate"]) == (recipe.epochs, recipe.learning_rate)
    assert config["reinit_pooler"] is recipe.reinit_pooler is False
    said = capsys.readouterr().err
    assert f"2 steps at learning rate {recipe.learning_rate:g} " in said  # --max_steps 2
    defaulted = "epochs, learning_rate, reinit_pooler and per_device_train_batch_size"
    assert f"({defaulted}: the {task} default)" in said


@pytest.mark.trains
def test_scored_pairs_train_with_regressions_pair_recipe(tiny_model, tmp_path, capsys):
    frame = regression_frame(60)
    frame.insert(1, "text2", regression_frame(60, seed=1).text)  # text1/text2: a usual pair
    frame.rename(columns={"text": "text1"}).to_csv(tmp_path / "scored.csv", index=False)
    recipe = Regression.pair_recipe
    assert recipe != Regression.recipe and not recipe.reinit_pooler
    capsys.readouterr()
    config = _recipe_run(tiny_model, tmp_path / "scored.csv", tmp_path / "run")
    assert (config["epochs"], config["reinit_pooler"]) == (recipe.epochs, False)
    defaulted = "epochs, learning_rate, reinit_pooler and per_device_train_batch_size"
    assert f"({defaulted}: the regression default for text pairs)" in capsys.readouterr().err


@pytest.mark.trains
def test_what_the_user_gives_wins_over_the_recipe_one_setting_at_a_time(tiny_model, tmp_path):
    data, _ = write_multi_label(tmp_path, n=60)
    # --num_train_epochs: Hugging Face's name for --epochs.
    config = _recipe_run(tiny_model, data, tmp_path / "run", "--num_train_epochs", "2")
    assert (config["epochs"], config["learning_rate"]) == (2.0, MultiLabel.recipe.learning_rate)


# --- multi-label --------------------------------------------------------------------------------


@pytest.mark.trains
def test_multi_label_learns_and_saves_what_plain_transformers_needs(multi):
    out, _, _ = multi
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["task"] == "multi_label" and "list of labels" in metrics["task_reason"]
    validation = metrics["validation"]
    assert validation["f1_micro"] >= 0.9 and validation["subset_accuracy"] >= 0.7
    assert 0 <= validation["hamming_loss"] <= 0.1
    per_label = validation["per_class"]
    assert set(per_label) == {"food", "sports", "weather"}
    # The stratified split keeps every label in validation, in about its share (2/3 each).
    assert all(row["support"] >= 20 for row in per_label.values())
    config = json.loads((out / "config.json").read_text())
    assert config["problem_type"] == "multi_label_classification"
    thresholds = config["bertft_task"]["thresholds"]
    assert set(thresholds) == set(per_label)
    assert all(0.05 <= t <= 0.95 for t in thresholds.values())
    html = (out / "report.html").read_text()
    assert "Label co-occurrence" in html and "micro F1" in html
    assert (out / "plots" / "co_occurrence.png").is_file()


@pytest.mark.trains
def test_multi_label_predict_pipeline_and_classifier_agree(multi, capsys):
    from transformers import pipeline

    out, _, _ = multi
    texts = ["rain and bread", "goal and team", "goal match and sky"]
    rows = _predict(capsys, "--model", str(out), *sum((["--text", t] for t in texts), []))
    assert set(rows[0]["labels"]) == {"food", "weather"}
    assert rows[1]["labels"] == ["sports"]
    assert set(rows[2]["labels"]) == {"sports", "weather"}
    assert set(rows[0]["scores"]) == {"food", "sports", "weather"}

    clf = Classifier.from_pretrained(out, precision="fp32")
    assert [sorted(x) for x in clf.predict(texts)] == [sorted(r["labels"]) for r in rows]
    thresholds = dict(zip(clf.labels, clf.task.thresholds, strict=True))
    plain = pipeline("text-classification", model=str(out), top_k=None)(texts)
    for row, answer in zip(rows, plain, strict=True):
        scores = {a["label"]: a["score"] for a in answer}  # sigmoid, from problem_type alone
        assert scores == pytest.approx(row["scores"], abs=1e-5)
        assert sorted(k for k, p in scores.items() if p >= thresholds[k]) == sorted(row["labels"])


@pytest.mark.trains
def test_csv_with_separated_labels_trains_the_same_model(multi, tiny_model, tmp_path):
    from safetensors.numpy import load_file

    _, jsonl, csv = multi
    out, twin = tmp_path / "jsonl", tmp_path / "csv"
    assert main(tiny_train_args(tiny_model, jsonl, out, "--epochs", "1")) == 0
    args = tiny_train_args(tiny_model, csv, twin, "--epochs", "1", "--label_separator", "|")
    assert main(args) == 0
    a, b = load_file(out / "model.safetensors"), load_file(twin / "model.safetensors")
    assert a.keys() == b.keys()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    first = json.loads((out / "config.json").read_text())["bertft_task"]["thresholds"]
    assert json.loads((twin / "config.json").read_text())["bertft_task"]["thresholds"] == first


@pytest.mark.trains
def test_multi_label_evaluate_on_the_csv_twin(multi, tmp_path):
    out, _, _ = multi
    root = tmp_path / "held"
    root.mkdir()
    _, csv = write_multi_label(root, 60, seed=9)
    args = ["evaluate", "--model", str(out), "--data", str(csv), "--label_separator", "|"]
    assert main(args) == 0
    folder = out / "evaluation" / "tags"
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["task"] == "multi_label" and metrics["f1_micro"] >= 0.85
    row = json.loads((folder / "predictions.jsonl").read_text().splitlines()[0])
    assert isinstance(row["true"], list) and set(row["predicted"]) == {"labels", "scores"}


@pytest.mark.trains
def test_multi_label_class_weights_are_positive_weights(tiny_model, multi, tmp_path):
    _, jsonl, _ = multi
    out = tmp_path / "weighted"
    args = tiny_train_args(tiny_model, jsonl, out, "--epochs", "2", "--class_weights", "auto")
    assert main(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    counts = metrics["data"]["label_counts"]["train"]
    total = metrics["data"]["samples"]["train"]
    expected = {k: (total - c) / c for k, c in counts.items()}
    assert metrics["class_weights"] == pytest.approx(expected)


# --- regression ----------------------------------------------------------------------------------


@pytest.mark.trains
def test_regression_learns_in_the_labels_units(regression, capsys):
    from transformers import pipeline

    out, _ = regression
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["task"] == "regression"
    validation = metrics["validation"]
    assert validation["pearson"] >= 0.9 and validation["r2"] >= 0.75
    assert validation["rmse"] == pytest.approx(validation["mse"] ** 0.5)
    config = json.loads((out / "config.json").read_text())
    assert config["problem_type"] == "regression" and config["id2label"] == {"0": "value"}

    texts = ["goal goal team match win", "bread cheese soup cake", "rain"]
    rows = _predict(capsys, "--model", str(out), *sum((["--text", t] for t in texts), []))
    values = [r["value"] for r in rows]
    assert values[0] > 2 and values[1] < -2 and abs(values[2]) < 1.5  # raw units, not scaled
    assert all(r["score"] == r["value"] for r in rows)
    plain = pipeline("text-classification", model=str(out))(texts)
    assert [p["score"] for p in plain] == pytest.approx(values, abs=1e-4)
    assert Classifier.from_pretrained(out, precision="fp32").predict(texts) == pytest.approx(
        values, abs=1e-5
    )
    html = (out / "report.html").read_text()
    assert "Predicted against true" in html and "Pearson" in html


@pytest.mark.trains
def test_regression_evaluate_and_csv_output(regression, tmp_path, capsys):
    out, _ = regression
    data = tmp_path / "more.csv"
    regression_frame(50, seed=3).to_csv(data, index=False)
    args = ["evaluate", "--model", str(out), "--data", str(data), "--label_column", "score"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "pearson" in printed and "rmse" in printed
    metrics = json.loads((out / "evaluation" / "more" / "metrics.json").read_text())
    assert metrics["pearson"] >= 0.85
    assert (out / "evaluation" / "more" / "plots" / "regression.png").is_file()
    csv_out = tmp_path / "p.csv"
    assert (
        main(["predict", "--model", str(out), "--input", str(data), "--output", str(csv_out)]) == 0
    )
    frame = pd.read_csv(csv_out)
    # The input's own "score" column is carried as score_input (--keep_columns all).
    assert (
        list(frame.columns) == ["text", "score_input", "value", "score", "interval"]
        and len(frame) == 50
    )


@pytest.mark.trains
def test_evaluate_refuses_a_word_as_a_regression_target(regression, tmp_path, capsys):
    out, _ = regression
    data = tmp_path / "bad.csv"
    data.write_text("text,score\ngoal,1.5\nrain,high\n")
    assert main(["evaluate", "--model", str(out), "--data", str(data)]) == 2
    assert (
        "bad.csv, row 2 (line 3), column 'score': expected a number for --task regression"
        in capsys.readouterr().err
    )


# --- pairs -------------------------------------------------------------------------------------


@pytest.mark.trains
def test_pairs_are_found_and_read_together(pairs, capsys):
    from transformers import pipeline

    out, data = pairs
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["text_pair_column"] == "sentence2"
    assert metrics["validation"]["accuracy"] >= 0.9  # the label lives in the second text

    rows = _predict(
        capsys, "--model", str(out), "--text", "bread cheese", "--text_pair", "rain and snow"
    )
    assert rows[0]["label"] == "weather" and rows[0]["text_pair"] == "rain and snow"
    swapped = _predict(
        capsys, "--model", str(out), "--text", "rain and snow", "--text_pair", "bread cheese"
    )
    assert swapped[0]["label"] == "food"
    plain = pipeline("text-classification", model=str(out))(
        {"text": "bread cheese", "text_pair": "rain and snow"}
    )
    assert plain["label"] == "weather"
    assert plain["score"] == pytest.approx(rows[0]["score"], abs=1e-5)

    from_file = _predict(capsys, "--model", str(out), "--input", str(data))  # columns found
    frame = pd.read_csv(data)
    assert len(from_file) == len(frame)
    assert np.mean([r["label"] == y for r, y in zip(from_file, frame.label, strict=True)]) > 0.9


@pytest.mark.trains
def test_the_classifier_takes_pairs_as_pipeline_does(pairs):
    from transformers import pipeline

    out, _ = pairs
    clf, plain = Classifier.from_pretrained(out), pipeline("text-classification", model=str(out))
    pair = {"text": "bread cheese", "text_pair": "rain and snow"}
    ours, theirs = clf(pair), plain(pair)
    assert ours[0]["label"] == theirs["label"] == "weather"
    assert ours[0]["score"] == pytest.approx(theirs["score"], abs=1e-5)
    swapped = {"text": "rain and snow", "text_pair": "bread cheese"}
    assert [a["label"] for a in clf([pair, swapped])] == ["weather", "food"]
    assert clf([pair], top_k=None)[0][0]["label"] == "weather"  # every label, best first
    with pytest.raises(BertftError, match="every one with both"):
        clf([pair, {"text": "bread cheese"}])
    with pytest.raises(BertftError, match="pairs= and"):
        clf("bread cheese")


@pytest.mark.trains
def test_a_pair_model_refuses_single_texts(pairs, capsys):
    out, _ = pairs
    assert main(["predict", "--model", str(out), "--text", "bread cheese"]) == 2
    assert "this model reads pairs of texts" in capsys.readouterr().err

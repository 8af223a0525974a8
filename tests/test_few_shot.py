"""Few labelled texts: the recipe's choice, its mean-pooling layer and pair loss, the refusals,
and a model that learnt nothing saying so; on the tiny model built offline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import assert_same_result, finish, interrupt_at_step, start_run, topic_frame
from task_data import regression_frame, write_multi_label

from bertft.cli import main
from bertft.errors import BertftError
from bertft.model import add_mean_pooling_layer
from bertft.tasks.multi_label import MultiLabel
from bertft.tasks.regression import Regression
from bertft.tasks.single_label import SingleLabel
from bertft.training import recipes
from bertft.training.pair_loss import PairLoss

pytestmark = pytest.mark.unit


def few_shot_args(model: Path, data: Path, out: Path, *extra: str) -> list[str]:
    """`bertft train` with no recipe flags, but a rate the tiny model learns at."""
    return [
        "train", "--model_id", str(model), "--data", str(data), "--output_dir", str(out),
        "--learning_rate", "2e-3", "--precision", "fp32", "--logging_steps", "10", *extra,
    ]  # fmt: skip


def few(n_per_class: int, tmp_path: Path) -> Path:
    """`n_per_class` topic texts a class (three classes), as a CSV."""
    frame = topic_frame(3 * n_per_class, seed=3)
    path = tmp_path / "few.csv"
    frame.to_csv(path, index=False)
    return path


# --- the choice ----------------------------------------------------------------------------------


def test_auto_chooses_few_shot_under_100_texts_a_class_and_says_why():
    choice = recipes.choose("auto", "single_label", ["a"] * 8 + ["b"] * 8)
    assert choice.name == "few_shot" and "8.0 texts a class, under 100" in choice.why
    assert recipes.choose("auto", "single_label", ["a"] * 100 + ["b"] * 100).name == "standard"
    # An unbalanced set goes by the mean: 150 + 30 texts is 90 a class.
    assert recipes.choose("auto", "single_label", ["a"] * 150 + ["b"] * 30).name == "few_shot"
    # Multi-label counts texts a label; regression, texts.
    labels = [("x",), ("x", "y")] * 40  # x 80 times, y 40: 60 a label
    assert recipes.choose("auto", "multi_label", labels).name == "few_shot"
    assert recipes.choose("auto", "regression", [0.5] * 99).name == "few_shot"
    assert recipes.choose("auto", "regression", [0.5] * 100).name == "standard"
    # Asked for by name, it is what the user asked.
    assert recipes.choose("standard", "single_label", ["a"] * 8).name == "standard"
    assert recipes.choose("few_shot", "single_label", ["a"] * 500).name == "few_shot"


def test_a_class_with_a_single_text_is_refused_by_name():
    with pytest.raises(BertftError, match=r"1 class\(es\) with a single training text \(rare\)"):
        recipes.refuse_too_few("single_label", ["a", "a", "rare"], "few.csv")
    recipes.refuse_too_few("single_label", ["a", "a", "b", "b"], "few.csv")  # no error


# --- the mean-pooling layer -----------------------------------------------------------------------


def test_the_added_layer_reads_cls_as_the_mean_of_the_tokens_and_loads_back(tiny_model, tmp_path):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model, num_labels=3).eval()
    layers = model.config.num_hidden_layers
    assert add_mean_pooling_layer(model)
    assert model.config.num_hidden_layers == layers + 1
    # Texts of different lengths in one batch: padding must not enter the mean.
    batch = tokenizer(
        ["sports soup", "rain snow wind the very cold"], padding=True, return_tensors="pt"
    )
    with torch.no_grad():
        hidden = model.base_model(**batch, output_hidden_states=True).hidden_states
    below, top = hidden[-2], hidden[-1][:, 0]
    mask = batch["attention_mask"].unsqueeze(-1).float()
    mean = (below * mask).sum(1) / mask.sum(1)
    expected = torch.nn.functional.layer_norm(
        mean, mean.shape[-1:], eps=model.config.layer_norm_eps
    )
    # To within the [CLS] vector's share of the residual sum, |h_cls| / (1000 |mean|).
    assert torch.allclose(top, expected, atol=1e-2)
    assert not torch.allclose(top, hidden[-2][:, 0], atol=1e-1)  # not [CLS] passed through
    # An ordinary model of its class: plain transformers and pipeline() load it as it is.
    model.save_pretrained(tmp_path / "m")
    tokenizer.save_pretrained(tmp_path / "m")
    again = AutoModelForSequenceClassification.from_pretrained(tmp_path / "m").eval()
    with torch.no_grad():
        assert torch.allclose(again(**batch).logits, model(**batch).logits, atol=1e-5)
    assert len(pipeline("text-classification", model=str(tmp_path / "m"))(["rain"])) == 1


def test_the_pair_loss_draws_alike_texts_together_and_is_zero_when_they_are():
    layer = torch.nn.Linear(2, 2)
    loss = PairLoss(layer, SingleLabel(("a", "b")).pair_targets, weight=1.0)
    layer.train()
    labels = torch.tensor([0, 0, 1, 1])
    with torch.no_grad():
        layer.weight.copy_(torch.eye(2))
        layer.bias.zero_()
    # [CLS] is row 0 of each text's sequence: same-class texts point the same way, the two
    # classes at right angles: nothing to learn.
    layer(torch.tensor([[[1.0, 0.0]], [[2.0, 0.0]], [[0.0, 1.0]], [[0.0, 3.0]]]))
    assert float(loss(labels)) == pytest.approx(0.0, abs=1e-6)
    layer(torch.tensor([[[1.0, 0.0]], [[0.0, 1.0]], [[1.0, 0.0]], [[0.0, 1.0]]]))
    # Alike pairs at right angles (error 1: their half of the weight), two unlike pairs of four
    # pointing the same way (error 1: a quarter): 0.5 + 0.25.
    assert float(loss(labels)) == pytest.approx(0.75)
    layer.eval()  # evaluation passes leave nothing to compare
    layer(torch.ones(4, 1, 2))
    assert loss(labels) == 0.0


def test_pair_targets_per_task():
    hot = torch.tensor([[1, 0], [1, 1], [0, 0]])
    jaccard = MultiLabel(("x", "y")).pair_targets(hot)
    assert jaccard[0, 1] == pytest.approx(0.5) and jaccard[0, 2] == 0 and jaccard[2, 2] == 1
    assert Regression().pair_targets(torch.tensor([1.0])) is None


# --- not learnt -----------------------------------------------------------------------------------


def test_unlearnt_names_one_class_for_everything_and_no_better_than_the_majority():
    task = SingleLabel(("ham", "spam"))
    always_ham = np.array([[0.9, 0.1]] * 10)
    found = task.unlearnt(["ham"] * 5 + ["spam"] * 5, always_ham)
    assert found.startswith("the model answers ham for 100% of the texts")
    assert "--epochs" in found
    mixed_but_wrong = np.array([[0.9, 0.1], [0.1, 0.9]] * 5)
    assert "no better than always answering" in task.unlearnt(["spam", "ham"] * 5, mixed_but_wrong)
    right = np.array([[0.9, 0.1], [0.1, 0.9]] * 5)
    assert task.unlearnt(["ham", "spam"] * 5, right) is None
    regression = Regression().unlearnt([1.0, 2.0, 3.0], np.array([[2.0], [2.0], [2.0]]))
    assert regression.startswith("R² 0.000")


# --- through the CLI ------------------------------------------------------------------------------


@pytest.mark.trains
def test_few_shot_training_uses_every_text_and_the_last_step(tiny_model, tmp_path, capsys):
    from transformers import pipeline

    out = tmp_path / "run"
    assert main(few_shot_args(tiny_model, few(8, tmp_path), out)) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    recipe = metrics["recipe"]
    assert recipe["name"] == "few_shot" and recipe["max_steps"] == 150
    assert recipe["validated_on"].startswith("the training texts (none held out)")
    assert metrics["train"]["samples"] == 24 and metrics["validation"]["samples"] == 24
    assert metrics["validation"]["accuracy"] >= 0.9  # it fits its texts
    assert metrics["not_learnt"] is None
    steps = [h["step"] for h in metrics["history"] if "loss" in h]
    assert steps[-1] == 150 and steps == sorted(steps)
    # A checkpoint each quarter, the last step's model kept (nothing held out to choose by).
    config = json.loads((out / "config.json").read_text())
    assert config["num_hidden_layers"] == 3  # the tiny model's two, and the mean
    printed = capsys.readouterr().out
    assert "training texts accuracy" in printed and "validation accuracy" not in printed
    # pipeline() gives bertft predict's labels.
    texts = ["sports ball goal", "rain snow cold", "soup pasta dinner"]
    answers = tmp_path / "answers.jsonl"
    asked = [flag for text in texts for flag in ("--text", text)]
    assert main(["predict", "--model", str(out), *asked, "--output", str(answers)]) == 0
    ours = [json.loads(line)["label"] for line in answers.read_text().splitlines()]
    theirs = [a["label"] for a in pipeline("text-classification", model=str(out))(texts)]
    assert ours == theirs
    # The added layer exports: ONNX gives PyTorch's logits.
    assert main(["export", "--model", str(out), "--output_dir", str(tmp_path / "onnx")]) == 0
    fp32 = json.loads((tmp_path / "onnx" / "export_report.json").read_text())["exports"]["fp32"]
    assert fp32["max_abs_logit_diff"] < 1e-4 and fp32["agreement"] == 1.0


@pytest.mark.trains
def test_evaluate_on_the_few_shot_training_file_says_it_shows_fit(tiny_model, tmp_path, caplog):
    data, out = few(8, tmp_path), tmp_path / "run"
    assert main(few_shot_args(tiny_model, data, out, "--max_steps", "20")) == 0
    assert main(["evaluate", "--model", str(out), "--data", str(data)]) == 0
    said = " ".join(r.getMessage() for r in caplog.records)
    assert "what this few-shot model trained on, every row of it" in said
    metrics = json.loads((out / "evaluation" / "few" / "metrics.json").read_text())
    assert metrics["samples"] == 24  # every row, not a "held-out" fifth that was trained on


@pytest.mark.trains
def test_few_shot_multi_label_and_regression_train(tiny_model, tmp_path):
    jsonl, _ = write_multi_label(tmp_path, n=60)
    out = tmp_path / "multi"
    assert main(few_shot_args(tiny_model, jsonl, out, "--max_steps", "40")) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["task"] == "multi_label" and metrics["recipe"]["name"] == "few_shot"
    assert metrics["recipe"]["pair_loss"] == 1.0
    data = tmp_path / "scores.csv"
    regression_frame(60).to_csv(data, index=False)
    out = tmp_path / "regression"
    assert main(few_shot_args(tiny_model, data, out, "--max_steps", "40")) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["task"] == "regression" and metrics["recipe"]["name"] == "few_shot"
    assert metrics["recipe"]["pair_loss"] == 0.0  # scores have no classes to pair by


@pytest.mark.trains
def test_a_model_that_learnt_nothing_says_so(tiny_model, tmp_path, caplog):
    out = tmp_path / "run"
    args = few_shot_args(tiny_model, few(8, tmp_path), out, "--max_steps", "4")
    args[args.index("--learning_rate") + 1] = "1e-9"
    assert main(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["not_learnt"] and "try more labelled texts" in metrics["not_learnt"]
    assert any(r.getMessage().startswith("warning: ") for r in caplog.records)


@pytest.mark.trains
def test_few_shot_refusals(tiny_model, tmp_path, capsys):
    frame = topic_frame(24, seed=3)
    frame.loc[0, "label"] = "lonely"
    data = tmp_path / "lonely.csv"
    frame.to_csv(data, index=False)
    assert main(few_shot_args(tiny_model, data, tmp_path / "a")) == 2
    assert "1 class(es) with a single training text (lonely)" in capsys.readouterr().err
    args = few_shot_args(tiny_model, few(8, tmp_path), tmp_path / "b")
    assert main([*args, "--early_stopping_patience", "2"]) == 2
    assert "--early_stopping_patience: the few-shot recipe" in capsys.readouterr().err
    assert not (tmp_path / "a").exists() and not (tmp_path / "b" / "metrics.json").exists()


@pytest.mark.trains
@pytest.mark.subprocess
def test_an_interrupted_few_shot_run_resumes_exactly(tiny_model, tmp_path):
    """SIGTERM mid-run, then the same command: the weights of an uninterrupted run, bit for bit
    (the pair loss and the mean-pooling layer included)."""
    data = tmp_path / "topics.csv"
    topic_frame(240).to_csv(data, index=False)  # 80 a class: few-shot by itself
    few_shot = ("--recipe", "auto")  # after tiny_train_args' --recipe standard: this wins
    reference = tmp_path / "reference"
    code, err = finish(start_run(tiny_model, data, reference, *few_shot))
    assert code == 0, err[-2000:]
    assert json.loads((reference / "metrics.json").read_text())["recipe"]["name"] == "few_shot"
    out = tmp_path / "interrupted"
    interrupt_at_step(tiny_model, data, out, *few_shot, step=20)
    code, err = finish(start_run(tiny_model, data, out, *few_shot))
    assert code == 0 and "resuming from" in err, err[-2000:]
    assert_same_result(out, reference)

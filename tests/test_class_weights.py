"""--class_weights: inverse-frequency weights, weight files and their errors, the weighted loss."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from helpers import tiny_train_args, topic_frame

from bertft.cli import main
from bertft.training.class_weights import inverse_frequency

pytestmark = pytest.mark.unit

COUNTS = {"food": 90, "sports": 30, "weather": 15}


def _imbalanced(counts: dict[str, int], seed: int) -> pd.DataFrame:
    frame = topic_frame(3 * max(counts.values()), seed=seed)
    parts = [frame[frame.label == label].head(n) for label, n in counts.items()]
    return pd.concat(parts).sample(frac=1, random_state=seed).reset_index(drop=True)


@pytest.fixture
def imbalanced(tmp_path):
    train, dev = tmp_path / "train.csv", tmp_path / "dev.csv"
    _imbalanced(COUNTS, 0).to_csv(train, index=False)
    _imbalanced({"food": 12, "sports": 12, "weather": 12}, 1).to_csv(dev, index=False)
    return train, dev


def test_inverse_frequency_weights_have_mean_one():
    weights = inverse_frequency(COUNTS, ["food", "sports", "weather"])
    # 1/90 : 1/30 : 1/15 = 1 : 3 : 6, scaled to mean 1 -> 0.3, 0.9, 1.8
    assert weights == pytest.approx([0.3, 0.9, 1.8])


def _validation_loss_by_hand(model_dir, dev, weights):
    """Cross-entropy of the saved model on the dev set, weighted as given."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    frame = pd.read_csv(dev)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    with torch.no_grad():
        batch = tokenizer(list(frame.text), padding=True, return_tensors="pt")
        logits = model(**batch).logits
    y = torch.tensor([model.config.label2id[x] for x in frame.label])
    weight = None if weights is None else torch.tensor(weights)
    return float(torch.nn.functional.cross_entropy(logits, y, weight=weight))


@pytest.mark.trains
def test_auto_weights_reach_metrics_report_and_the_loss(tiny_model, imbalanced, tmp_path):
    train, dev = imbalanced
    out = tmp_path / "weighted"
    args = tiny_train_args(tiny_model, train, out, "--epochs", "2", "--validation_data", str(dev))
    assert main([*args, "--class_weights", "auto"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["data"]["label_counts"]["train"] == COUNTS
    assert metrics["class_weights"] == pytest.approx({"food": 0.3, "sports": 0.9, "weather": 1.8})
    # The validation loss the Trainer reports is the weighted cross-entropy, not the plain one.
    weighted = _validation_loss_by_hand(out, dev, [0.3, 0.9, 1.8])
    plain = _validation_loss_by_hand(out, dev, None)
    assert metrics["validation"]["loss"] == pytest.approx(weighted, rel=1e-3)
    assert abs(weighted - plain) > 1e-3
    html = (out / "report.html").read_text()
    assert "loss weight" in html and "1.800" in html
    assert (
        "loss weights: food 0.300, sports 0.900, weather 1.800" in (out / "README.md").read_text()
    )


@pytest.mark.trains
def test_weights_file_in_yaml_is_used(tiny_model, imbalanced, tmp_path):
    train, dev = imbalanced
    weights = tmp_path / "weights.yaml"
    weights.write_text("food: 1\nsports: 2.5\nweather: 4\n")
    out = tmp_path / "run"
    args = tiny_train_args(tiny_model, train, out, "--epochs", "1", "--validation_data", str(dev))
    assert main([*args, "--class_weights", str(weights)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["class_weights"] == {"food": 1.0, "sports": 2.5, "weather": 4.0}


@pytest.mark.parametrize(
    "name, content, message",
    [
        (
            "w.json",
            '{"food": 1, "sports": 2, "weather": 3, "politics": 4}',
            "unknown label(s) politics (the labels are food, sports, weather)",
        ),
        (
            "w.json",
            '{"food": 1, "sports": 0, "weather": 3}',
            "the weight of label 'sports' must be a positive number, got 0",
        ),
        (
            "w.yaml",
            "food: 1\nsports: -2\nweather: 3\n",
            "the weight of label 'sports' must be a positive number, got -2",
        ),
        (
            "w.yaml",
            "food: 1\nsports: heavy\nweather: 3\n",
            "the weight of label 'sports' must be a positive number, got 'heavy'",
        ),
        ("w.json", '{"food": 1, "sports": 2}', "no weight for label(s) weather"),
        ("w.json", "[1, 2, 3]", "expected a mapping of label: weight, got list"),
        ("w.json", '{"food": 1,', "not valid JSON"),
        ("missing.json", None, "no such file (expected auto, none, or a JSON/YAML file"),
    ],
)
def test_bad_weights_file_is_refused_before_training(
    tiny_model, imbalanced, tmp_path, capsys, name, content, message
):
    train, dev = imbalanced
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    out = tmp_path / "run"
    args = tiny_train_args(tiny_model, train, out, "--validation_data", str(dev))
    assert main([*args, "--class_weights", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"bertft: error: --class_weights {path}: {message}" in err
    assert not out.exists()  # refused before anything was written

"""Binary tasks: ROC-AUC, PR-AUC and the F1-best threshold, and `predict --threshold`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import tiny_train_args, topic_frame
from sklearn.metrics import roc_auc_score

from bertft.cli import main
from bertft.metrics import binary_metrics

pytestmark = pytest.mark.unit


def _binary_frame(n: int, seed: int):
    frame = topic_frame(n, seed=seed)
    return frame[frame.label != "food"].reset_index(drop=True)


@pytest.fixture(scope="module")
def binary_model(tiny_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("binary")
    data = root / "two.csv"
    _binary_frame(240, 0).to_csv(data, index=False)
    out = root / "run"
    assert main(tiny_train_args(tiny_model, data, out, "--epochs", "3")) == 0
    return out


def test_binary_metrics_by_hand():
    # Positives score 0.4 and 0.9, negatives 0.1 and 0.6.
    result = binary_metrics([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9])
    assert result["roc_auc"] == pytest.approx(0.75)  # 3 of the 4 (pos, neg) pairs ranked right
    # >= 0.4 labels three positive: precision 2/3, recall 1, F1 0.8 (>= 0.9: 0.667; >= 0.6: 0.5)
    assert result["best_threshold"] == pytest.approx(0.4)
    assert result["best_threshold_f1"] == pytest.approx(0.8)
    # Average precision: recall 0.5 at precision 1 (0.9), then recall 1 at precision 2/3 (0.4).
    assert result["pr_auc"] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert binary_metrics([1, 1], [0.2, 0.9])["roc_auc"] is None  # one class: undefined


@pytest.mark.trains
def test_training_and_evaluate_report_auc_and_threshold(binary_model, tmp_path, capsys):
    metrics = json.loads((binary_model / "metrics.json").read_text())
    binary = metrics["validation"]["binary"]
    assert binary["positive_label"] == "weather"
    assert 0.9 <= binary["roc_auc"] <= 1 and 0.9 <= binary["pr_auc"] <= 1

    data = tmp_path / "holdout.csv"
    _binary_frame(90, 5).to_csv(data, index=False)
    out = tmp_path / "eval"
    args = ["evaluate", "--model", str(binary_model), "--data", str(data), "--output_dir", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "metrics.json").read_text())["binary"]
    rows = [json.loads(x) for x in (out / "predictions.jsonl").read_text().splitlines()]
    y = [r["true"] == "weather" for r in rows]
    p = [{d["label"]: d["score"] for d in r["predicted"]["top_k"]}["weather"] for r in rows]
    assert report["roc_auc"] == pytest.approx(roc_auc_score(y, p), abs=1e-5)
    assert 0 < report["best_threshold"] < 1
    # At the reported threshold the F1 is the reported one.
    # (predictions.jsonl rounds probabilities to 6 digits: allow for that at the threshold)
    chosen = np.array(p) >= report["best_threshold"] - 1e-6
    tp = (chosen & np.array(y)).sum()
    f1 = 2 * tp / (chosen.sum() + sum(y))
    assert report["best_threshold_f1"] == pytest.approx(f1, abs=1e-3)
    assert "roc_auc" in printed and "best_threshold" in printed
    html = (out / "report.html").read_text()
    assert "<h2>Threshold</h2>" in html and "ROC-AUC" in html
    assert (out / "plots" / "roc_pr.png").is_file()


@pytest.mark.trains
def test_predict_threshold_moves_texts_between_the_labels(binary_model, capsys):
    texts = ["rain snow storm", "goal team", "sun match", "wind cloud ball", "league coach"]
    from bertft import Classifier

    weather = Classifier.from_pretrained(binary_model).predict_proba(texts)[:, 1]
    threshold = float(np.median(weather))

    def predict(*flags: str) -> list[str]:
        args = ["predict", "--model", str(binary_model), *flags]
        for text in texts:
            args += ["--text", text]
        assert main(args) == 0
        return [json.loads(line)["label"] for line in capsys.readouterr().out.splitlines()]

    expected = ["weather" if p >= threshold else "sports" for p in weather]
    assert predict("--threshold", str(threshold)) == expected
    assert predict("--threshold", "0") == ["weather"] * len(texts)  # everything is >= 0
    # With sports as the positive class, a threshold of 0 labels everything sports.
    assert predict("--threshold", "0", "--positive_label", "sports") == ["sports"] * len(texts)
    assert expected.count("weather") >= 2 and expected.count("sports") >= 2


@pytest.mark.trains
@pytest.mark.parametrize(
    "flags, message",
    [
        (["--threshold", "1.5"], "threshold must be between 0 and 1, got 1.5"),
        (["--positive_label", "sports"], "positive_label goes with threshold"),
        (
            ["--threshold", "0.5", "--positive_label", "rain"],
            "positive_label rain: not a label of this model (it has sports, weather)",
        ),
    ],
)
def test_predict_threshold_bad_flags(binary_model, capsys, flags, message):
    assert main(["predict", "--model", str(binary_model), "--text", "goal", *flags]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.trains
def test_multiclass_model_refuses_a_threshold(tiny_model, tmp_path, capsys):
    data = tmp_path / "three.csv"
    topic_frame(60).to_csv(data, index=False)
    out = tmp_path / "three"
    assert main(tiny_train_args(tiny_model, data, out, "--epochs", "1")) == 0
    capsys.readouterr()
    assert main(["predict", "--model", str(out), "--text", "goal", "--threshold", "0.5"]) == 2
    err = capsys.readouterr().err
    assert "a decision threshold needs a binary model; this one has 3 labels" in err
    assert "binary" not in json.loads((out / "metrics.json").read_text())["validation"]

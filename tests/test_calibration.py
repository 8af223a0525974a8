"""Calibrated scores: the temperature fitted on validation, folded into the head so that every
path gives the same scores; multi-label's per label; regression's interval; ECE everywhere."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import tiny_train_args, topic_frame
from task_data import regression_frame, write_multi_label

from bertft import calibration as cal
from bertft.cli import main
from bertft.metrics import log_softmax
from bertft.tasks.base import fold_temperatures
from bertft.tasks.single_label import SingleLabel

pytestmark = pytest.mark.unit

RNG = np.random.default_rng(0)


def _drawn(logits: np.ndarray, temperature: float) -> np.ndarray:
    """Classes drawn from softmax(logits / temperature): the truth of a model whose
    calibrated temperature is `temperature`."""
    p = np.exp(log_softmax(logits / temperature))
    return np.array([RNG.choice(len(row), p=row) for row in p])


def test_the_fitted_temperature_is_the_one_the_labels_were_drawn_with():
    logits = RNG.normal(0, 4, size=(4000, 5))
    for temperature in (0.5, 1.0, 2.5):
        found = cal.softmax_temperature(logits, _drawn(logits, temperature))
        assert found == pytest.approx(temperature, rel=0.08)


def test_ece_is_small_for_calibrated_scores_and_large_for_overconfident_ones():
    logits = RNG.normal(0, 3, size=(5000, 4))
    truth = _drawn(logits, 1.0)
    right = np.exp(log_softmax(logits))
    sure = np.exp(log_softmax(logits * 3))  # the same ranking, far too sure
    ece_right = cal.reliability(right.max(-1), right.argmax(-1) == truth)["ece"]
    ece_sure = cal.reliability(sure.max(-1), sure.argmax(-1) == truth)["ece"]
    assert ece_right < 0.03 < 0.1 < ece_sure
    # A temperature fitted on the over-confident scores' logits brings them back.
    t = cal.softmax_temperature(logits * 3, truth)
    fixed = np.exp(log_softmax(logits * 3 / t))
    assert cal.reliability(fixed.max(-1), fixed.argmax(-1) == truth)["ece"] < 0.03


def test_reliability_bins_count_every_score_once():
    block = cal.reliability(np.array([0.05, 0.15, 0.95, 1.0]), np.array([0, 1, 1, 1]))
    assert sum(b["count"] for b in block["bins"]) == 4
    assert block["bins"][-1] == {"lo": 0.9, "hi": 1.0, "count": 2, "confidence": 0.975,
                                 "accuracy": 1.0}  # fmt: skip
    assert block["ece"] == pytest.approx((0.05 + 0.85 + 2 * 0.025) / 4)


def test_scores_before_a_folded_temperature_are_recovered():
    logits = RNG.normal(0, 2, size=(50, 3))
    calibrated = np.exp(log_softmax(logits / 1.7))
    raw = cal.uncalibrated_softmax(calibrated, 1.7)
    assert np.allclose(raw, np.exp(log_softmax(logits)))
    sig = 1 / (1 + np.exp(-logits / np.array([0.5, 1.0, 3.0])))
    assert np.allclose(cal.uncalibrated_sigmoid(sig, [0.5, 1.0, 3.0]), 1 / (1 + np.exp(-logits)))


def test_each_label_gets_its_own_temperature_and_a_constant_label_none():
    logits = RNG.normal(0, 4, size=(4000, 3))
    truth = RNG.random((4000, 3)) < 1 / (1 + np.exp(-logits / np.array([0.6, 2.0, 1.0])))
    truth[:, 2] = False  # a label these texts never show
    found = cal.sigmoid_temperatures(logits, truth.astype(int))
    assert found[0] == pytest.approx(0.6, rel=0.1) and found[1] == pytest.approx(2.0, rel=0.1)
    assert found[2] == 1.0


def test_the_conformal_half_width_is_the_right_rank_of_the_residuals():
    residuals = np.arange(1, 20)  # 19 residuals: rank ceil(20 * 0.9) = 18
    assert cal.conformal_half_width(residuals, 0.9) == 18
    assert cal.conformal_half_width(-residuals, 0.5) == 10  # absolute values
    assert cal.conformal_half_width(residuals, 0.99) == float("inf")  # rank 20 of 19


def test_a_folded_temperature_divides_the_logits(tiny_model):
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(tiny_model, num_labels=3).eval()
    batch = {"input_ids": torch.tensor([[2, 5, 9, 3]])}
    with torch.no_grad():
        before = model(**batch).logits
        fold_temperatures(model, 2.5)
        assert torch.allclose(model(**batch).logits, before / 2.5, atol=1e-6)
        fold_temperatures(model, [1.0, 2.0, 4.0])  # one per output (multi-label)
        assert torch.allclose(
            model(**batch).logits, before / 2.5 / torch.tensor([1.0, 2.0, 4.0]), atol=1e-6
        )


def test_a_model_right_about_nearly_every_text_gets_no_temperature():
    """With under 5 mistakes, surer is always likelier: the fit would make every score 0 or 1."""
    truth = np.arange(300) % 3
    logits = np.eye(3)[truth] * 2.0  # right and unsure about every text
    logits[:4] = np.eye(3)[(truth[:4] + 1) % 3] * 2.0  # wrong about four
    assert cal.softmax_temperature(logits, truth) == cal.TOO_FEW_MISTAKES
    task = SingleLabel(["a", "b", "c"])
    task.calibrate([task.names[t] for t in truth], logits, cal.CalibrationSettings())
    assert (
        task.calibration["method"] == "none" and "under 5 wrong answers" in task.calibration["why"]
    )
    logits[4] = np.eye(3)[(truth[4] + 1) % 3] * 2.0  # five: fitted, and sharper (T < 1)
    assert cal.softmax_temperature(logits, truth) < 1.0


def test_a_fit_that_runs_to_a_bound_leaves_the_scores_alone():
    """A barely trained model: right about most texts by a hair; the likelihood would sharpen
    its scores past any temperature searched."""
    truth = np.arange(300) % 3
    logits = np.eye(3)[truth] * 0.01
    logits[:10] = np.eye(3)[(truth[:10] + 1) % 3] * 0.01
    assert cal.softmax_temperature(logits, truth) == cal.AT_BOUND
    task = SingleLabel(["a", "b", "c"])
    task.calibrate([task.names[t] for t in truth], logits, cal.CalibrationSettings())
    assert task.calibration == {"method": "none", "why": cal.AT_BOUND}


def test_too_few_validation_texts_fit_no_temperature():
    task = SingleLabel(["a", "b"])
    task.calibrate(["a", "b"] * 5, RNG.normal(size=(10, 2)), cal.CalibrationSettings())
    assert task.calibration == {"method": "none", "why": "10 validation texts, under 20"}


# --- through every command ---------------------------------------------------------------------


def _train(tiny_model, data: Path, out: Path, *extra: str) -> dict:
    assert main(tiny_train_args(tiny_model, data, out, "--epochs", "3", *extra)) == 0
    return json.loads((out / "metrics.json").read_text())


def _logits(folder: Path, texts: list[str]) -> np.ndarray:
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    with torch.no_grad():
        return model(**tokenizer(texts, padding=True, return_tensors="pt")).logits.numpy()


TEXTS = ["ball goal team", "rain and sun", "soup with bread", "the sky", "a cake today"]


@pytest.mark.trains
def test_the_temperature_is_in_the_weights_so_every_path_gives_calibrated_scores(
    tiny_model, tmp_path, capsys
):
    from transformers import pipeline

    data = tmp_path / "topics.csv"
    topic_frame(240).to_csv(data, index=False)
    plain = _train(tiny_model, data, tmp_path / "plain", "--calibration", "none")
    assert plain["validation"]["calibration"] == {
        "method": "none", "why": "--calibration none", **_ece_of(plain["validation"])
    }  # fmt: skip
    capsys.readouterr()
    metrics = _train(tiny_model, data, tmp_path / "run")
    out = tmp_path / "run"
    block = metrics["validation"]["calibration"]
    assert block["method"] == "temperature" and block["texts"] == 48
    t = block["temperature"]
    assert t != pytest.approx(1.0, abs=0.01) and cal.BOUNDS[0] < t < cal.BOUNDS[1]
    # The same seed trains the same model; calibration divides its logits by T, nothing else.
    assert np.allclose(_logits(out, TEXTS), _logits(tmp_path / "plain", TEXTS) / t, atol=1e-4)
    # Fitted for the least log-loss on these texts, of all temperatures 1 included.
    assert metrics["validation"]["loss"] <= plain["validation"]["loss"]
    said = capsys.readouterr().err
    assert f"scores calibrated: temperature {t:.3f} fitted on 48 validation texts" in said
    saved = json.loads((out / "config.json").read_text())["bertft_task"]["calibration"]
    assert saved == {"method": "temperature", "texts": 48, "temperature": t}
    # pipeline(), bertft predict and the ONNX export give the same scores.
    theirs = pipeline("text-classification", model=str(out), top_k=None)(TEXTS)
    answers = tmp_path / "answers.jsonl"
    asked = [flag for text in TEXTS for flag in ("--text", text)]
    assert main(["predict", "--model", str(out), *asked, "--output", str(answers),
                 "--top_k", "3"]) == 0  # fmt: skip
    ours = [json.loads(line)["top_k"] for line in answers.read_text().splitlines()]
    for mine, hf in zip(ours, theirs, strict=True):
        assert {a["label"]: a["score"] for a in mine} == pytest.approx(
            {a["label"]: a["score"] for a in hf}, abs=1e-5
        )
    assert main(["export", "--model", str(out), "--output_dir", str(tmp_path / "onnx")]) == 0
    fp32 = json.loads((tmp_path / "onnx" / "export_report.json").read_text())["exports"]["fp32"]
    assert fp32["max_abs_logit_diff"] < 1e-4
    # The report and the card say it; the reliability diagram is drawn.
    html = (out / "report.html").read_text()
    assert "<h2>Calibration</h2>" in html and "expected calibration error before" in html
    assert (out / "plots" / "reliability.png").stat().st_size > 1000
    assert f"temperature {t:.3f} fitted on 48 validation texts" in (out / "README.md").read_text()


def _ece_of(report: dict) -> dict:
    return {k: report["calibration"][k] for k in ("ece", "bins")}


@pytest.mark.trains
def test_evaluate_reports_calibration_on_new_texts_before_and_after(tiny_model, tmp_path, capsys):
    data, test = tmp_path / "topics.csv", tmp_path / "test.csv"
    topic_frame(240).to_csv(data, index=False)
    topic_frame(90, seed=7).to_csv(test, index=False)
    t = _train(tiny_model, data, tmp_path / "run")["validation"]["calibration"]["temperature"]
    capsys.readouterr()
    assert main(["evaluate", "--model", str(tmp_path / "run"), "--data", str(test)]) == 0
    printed = capsys.readouterr().out
    report = json.loads((tmp_path / "run" / "evaluation" / "test" / "metrics.json").read_text())
    block = report["calibration"]
    assert block["temperature"] == t and {"ece", "ece_uncalibrated", "bins"} <= set(block)
    assert f"expected calibration error on {test} {block['ece_uncalibrated']:.4f} → " in printed


@pytest.mark.trains
def test_multi_label_fits_a_temperature_per_label_then_its_thresholds(tiny_model, tmp_path):
    jsonl, _ = write_multi_label(tmp_path)
    plain = tmp_path / "plain"
    _train(tiny_model, jsonl, plain, "--epochs", "6", "--calibration", "none")
    metrics = _train(tiny_model, jsonl, tmp_path / "run", "--epochs", "6")
    block = metrics["validation"]["calibration"]
    names = metrics["labels"]
    assert block["method"] == "temperature" and list(block["temperatures"]) == names
    t = np.array([block["temperatures"][n] for n in names])
    assert np.allclose(_logits(tmp_path / "run", TEXTS), _logits(plain, TEXTS) / t, atol=1e-4)
    saved = json.loads((tmp_path / "run" / "config.json").read_text())["bertft_task"]
    assert saved["calibration"]["temperatures"] == block["temperatures"]
    # The thresholds were chosen on the calibrated scores, and are the ones saved.
    per_class = metrics["validation"]["per_class"]
    assert saved["thresholds"] == {n: per_class[n]["threshold"] for n in names}


@pytest.mark.trains
@pytest.mark.serves
def test_regression_values_come_with_an_interval_in_every_path(tiny_model, tmp_path):
    from fastapi.testclient import TestClient

    from bertft.inference.classifier import Classifier
    from bertft.serving.app import create_app
    from bertft.settings import ServeSettings

    data, test = tmp_path / "scores.csv", tmp_path / "test.csv"
    regression_frame(240).to_csv(data, index=False)
    regression_frame(120, seed=3).to_csv(test, index=False)
    out = tmp_path / "run"
    metrics = _train(tiny_model, data, out, "--epochs", "6", "--interval_coverage", "0.8")
    block = metrics["validation"]["calibration"]
    assert block["method"] == "interval" and block["coverage"] == 0.8 and block["texts"] == 48
    assert 0.8 <= block["covered"] <= 0.9  # split conformal: at least the level, on its texts
    half = block["half_width"]
    # predict: the value and its interval
    answers = tmp_path / "answers.jsonl"
    assert main(["predict", "--model", str(out), "--text", "ball goal", "--output",
                 str(answers)]) == 0  # fmt: skip
    answer = json.loads(answers.read_text())
    assert answer["interval"] == pytest.approx([answer["value"] - half, answer["value"] + half])
    # evaluate on new texts: how often the interval held
    assert main(["evaluate", "--model", str(out), "--data", str(test)]) == 0
    report = json.loads((out / "evaluation" / "test" / "metrics.json").read_text())
    assert report["calibration"]["half_width"] == half and report["calibration"]["covered"] >= 0
    # serve: JSON and CSV answers carry it too
    with TestClient(create_app(Classifier.from_pretrained(out), ServeSettings())) as client:
        served = client.post("/predict", json={"texts": ["ball goal"]}).json()
        assert served["predictions"][0]["interval"] == pytest.approx(answer["interval"])
        csv = client.post("/predict", json={"texts": ["ball goal"]},
                          headers={"accept": "text/csv"}).text  # fmt: skip
        assert len(csv.strip().split(",")) == 3  # value, low, high


@pytest.mark.trains
def test_few_shot_has_nothing_held_out_to_calibrate_on(tiny_model, tmp_path):
    data = tmp_path / "few.csv"
    topic_frame(24).to_csv(data, index=False)
    out = tmp_path / "run"
    args = ["train", "--model_id", str(tiny_model), "--data", str(data), "--output_dir",
            str(out), "--max_steps", "10", "--precision", "fp32"]  # fmt: skip
    assert main(args) == 0
    block = json.loads((out / "metrics.json").read_text())["validation"]["calibration"]
    assert block["method"] == "none" and block["why"].startswith("nothing held out")


def test_bad_calibration_settings_are_refused(tmp_path, capsys):
    data = tmp_path / "topics.csv"
    topic_frame(60).to_csv(data, index=False)
    assert main(["train", "--data", str(data), "--interval_coverage", "1.5"]) == 2
    assert "--interval_coverage must be between 0 and 1, got 1.5" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--data", str(data), "--calibration", "platt"])
    assert "invalid choice: 'platt'" in capsys.readouterr().err

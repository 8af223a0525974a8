"""Real fine-tunes of the bundled MiniLM on bundled data, and what is built from them (ONNX and
int8 exports). Slow: the fine-tune runs once per module, about a minute."""

from __future__ import annotations

import json

import pytest

from bertft.cli import main
from bertft.data.bundled import BUNDLED, package_dir
from bertft.model import BUNDLED_MODELS

pytestmark = [
    pytest.mark.slow,
    pytest.mark.real,
    pytest.mark.trains,
    pytest.mark.skipif(
        package_dir(BUNDLED_MODELS["minilm"].requirements[0]) is None
        or package_dir(BUNDLED["trec"].package) is None,
        reason="bundled model/datasets not installed",
    ),
]


@pytest.fixture(scope="module")
def trec_model(tmp_path_factory):
    """MiniLM fine-tuned on a TREC subset: trained once, read by every test here."""
    out = tmp_path_factory.mktemp("real") / "trec"
    assert (
        main(
            [
                "train",
                "--data",
                "trec",
                "--output_dir",
                str(out),
                "--max_train_samples",
                "1500",
                "--max_eval_samples",
                "400",
                "--epochs",
                "2",
            ]
        )
        == 0
    )
    return out


def test_minilm_learns_trec_from_a_subset(trec_model):
    out = trec_model
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["validation"]["accuracy"] >= 0.80
    assert metrics["labels"] == ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]

    from transformers import pipeline

    label = pipeline("text-classification", model=str(out))("What is the capital of France?")
    assert label[0]["label"] == "LOC"


def test_minilm_exports_to_onnx_and_int8_within_a_point_of_pytorch(trec_model, capsys):
    out = trec_model / "onnx"
    args = ["export", "--model", str(trec_model), "--quantize", "int8", "--eval_data", "trec"]
    assert main([*args, "--max_eval_samples", "1000"]) == 0
    assert "int8" in capsys.readouterr().out
    report = json.loads((out / "export_report.json").read_text())
    assert report["parity_texts"] == 1000 and report["accepted"] is True
    fp32, int8 = report["exports"]["fp32"], report["exports"]["int8"]
    assert fp32["max_abs_logit_diff"] < 1e-4
    assert fp32["argmax_agreement"] == 1.0
    torch_accuracy = report["pytorch"]["accuracy"]
    assert torch_accuracy >= 0.8
    assert fp32["accuracy"] == torch_accuracy
    assert torch_accuracy - int8["accuracy"] <= 0.01  # within 1 accuracy point
    assert int8["bytes"] < fp32["bytes"] / 3  # int8 weights: about a quarter of the size

    from bertft.inference.classifier import Classifier

    onnx_clf = Classifier.from_pretrained(out / "model.onnx", backend="onnx")
    # fp32 weights: on a native-bf16 CPU `auto` would run this bf16-trained model in bf16, whose
    # logits differ from the fp32 export by ~1e-2 (rounding, not a wrong export).
    torch_clf = Classifier.from_pretrained(trec_model, precision="fp32")
    texts = ["What is the capital of France?", "Who wrote Hamlet?", "How far is the moon?"]
    assert abs(onnx_clf.predict_logits(texts) - torch_clf.predict_logits(texts)).max() < 1e-4
    assert Classifier.from_pretrained(out, backend="onnx").predict(texts[:2]) == ["LOC", "HUM"]

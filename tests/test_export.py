"""`bertft export`: ONNX fp32 and int8 from a trained tiny model, checked against PyTorch."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from helpers import topic_frame

from bertft.cli import main
from bertft.errors import BertftError
from bertft.inference.classifier import Classifier

pytestmark = pytest.mark.unit

# Texts of different lengths and batch sizes the export never saw: dynamic axes at work.
NEW_TEXTS = [
    "goal",
    "rain and snow with a cold wind today",
    "cheese",
    "the team scored a late goal to win the league match in the stadium",
    "soup bread",
]


@pytest.fixture(scope="module")
def exported(tiny_trained, tmp_path_factory):
    """fp32 + int8 export of the tiny model, checked on its labelled topics. A hidden-32 model
    loses about 30 accuracy points in int8 (MiniLM loses under 1: tests/test_real.py), so the
    limit is lifted here; these tests check the export and its report, not int8's quality."""
    out = tmp_path_factory.mktemp("export") / "onnx"
    data = tiny_trained.parent / "topics.csv"
    args = ["export", "--model", str(tiny_trained), "--output_dir", str(out), "--quantize", "int8"]
    assert main([*args, "--eval_data", str(data), "--max_accuracy_drop", "100"]) == 0
    return out


def test_fp32_onnx_gives_the_pytorch_logits(tiny_trained, exported):
    report = json.loads((exported / "export_report.json").read_text())
    fp32 = report["exports"]["fp32"]
    assert fp32["max_abs_logit_diff"] < 1e-4
    assert fp32["argmax_agreement"] == 1.0
    assert report["parity_texts"] == 240
    assert report["accepted"] is True

    torch_clf = Classifier.from_pretrained(tiny_trained)
    onnx_clf = Classifier.from_pretrained(exported / "model.onnx", backend="onnx")
    # An in-memory model (as `train` holds one) goes through the same torch backend.
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    in_memory = Classifier.from_model(
        AutoModelForSequenceClassification.from_pretrained(tiny_trained),
        AutoTokenizer.from_pretrained(tiny_trained),
    )
    assert np.array_equal(in_memory.predict_logits(NEW_TEXTS), torch_clf.predict_logits(NEW_TEXTS))
    for batch in (NEW_TEXTS[:1], NEW_TEXTS):  # batch 1 and 5, short and long texts
        expected = torch_clf.predict_logits(batch)
        got = onnx_clf.predict_logits(batch)
        assert np.abs(got - expected).max() < 1e-4
        assert onnx_clf.predict(batch) == torch_clf.predict(batch)


def test_export_folder_stands_on_its_own(tiny_trained, exported, tmp_path):
    # Copied away from the training folder, it still loads: tokenizer and labels travel with it.
    moved = tmp_path / "moved"
    shutil.copytree(exported, moved)
    clf = Classifier.from_pretrained(moved, backend="onnx")
    assert clf.labels == ["food", "sports", "weather"]
    assert clf.source.endswith("model.int8.onnx")  # a folder with both serves the int8 model
    assert clf.predict(["rain storm cold"]) == ["weather"]
    # The training folder's onnx/ is found too, and a missing export is explained.
    with pytest.raises(BertftError, match="no ONNX model here"):
        Classifier.from_pretrained(tiny_trained, backend="onnx")


def test_int8_accuracy_is_reported_next_to_fp32(exported):
    report = json.loads((exported / "export_report.json").read_text())
    torch_acc = report["pytorch"]["accuracy"]
    int8 = report["exports"]["int8"]
    assert torch_acc >= 0.95  # the tiny model learnt its topics
    assert report["exports"]["fp32"]["accuracy"] == torch_acc
    assert 0 < int8["accuracy"] <= 1
    assert int8["accuracy_drop_points"] == pytest.approx(100 * (torch_acc - int8["accuracy"]))
    # int8 is a different model (its logits move), fp32 the same one.
    assert 0 < int8["argmax_agreement"] <= 1.0
    assert int8["max_abs_logit_diff"] > 100 * report["exports"]["fp32"]["max_abs_logit_diff"]
    # int8 weights: about a quarter of fp32 for the matrices (the tiny model is mostly
    # embeddings and graph overhead, so only "smaller" is asserted here).
    assert int8["bytes"] < report["exports"]["fp32"]["bytes"]


def _int8_hostile_copy(model_dir, dest):
    """The trained model, changed so that fp32 is unaffected but int8 is ruined: hidden unit 0
    is forced to exactly zero after the embeddings, and the attention weights reading it are set
    huge. In fp32 huge * 0 = 0; int8's one scale per matrix is then set by the huge weights and
    every other weight rounds to zero."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    model = AutoModelForSequenceClassification.from_pretrained(model_dir)
    with torch.no_grad():
        model.bert.embeddings.LayerNorm.weight[0] = 0.0
        model.bert.embeddings.LayerNorm.bias[0] = 0.0
        attention = model.bert.encoder.layer[0].attention.self
        for linear in (attention.query, attention.key, attention.value):
            linear.weight[:, 0] = 1e4
    model.save_pretrained(dest)
    AutoTokenizer.from_pretrained(model_dir).save_pretrained(dest)
    return dest


def test_quantization_that_loses_accuracy_fails_loudly_unless_forced(
    tiny_trained, tmp_path, capsys
):
    model = _int8_hostile_copy(tiny_trained, tmp_path / "hostile")
    data = tiny_trained.parent / "topics.csv"
    out = tmp_path / "exports" / "onnx"
    args = ["export", "--model", str(model), "--output_dir", str(out), "--quantize", "int8"]
    args += ["--eval_data", str(data)]

    assert main(args) == 2
    err = capsys.readouterr().err
    assert "export refused: int8 loses" in err and "--force" in err
    # Nothing that looks like an export is left behind, not even a temp folder.
    assert not out.exists()
    assert list(out.parent.iterdir()) == []

    assert main([*args, "--force"]) == 0
    assert "FORCED past failed checks" in capsys.readouterr().out
    report = json.loads((out / "export_report.json").read_text())
    assert report["accepted"] is False and report["forced"] is True
    assert report["exports"]["fp32"]["max_abs_logit_diff"] < 1e-4  # fp32 is still exact
    assert report["exports"]["int8"]["accuracy_drop_points"] > 1.0
    assert (out / "model.int8.onnx").is_file()


def test_a_refused_export_leaves_the_previous_good_one_untouched(tiny_trained, tmp_path):
    model = _int8_hostile_copy(tiny_trained, tmp_path / "hostile")
    out = tmp_path / "onnx"
    assert main(["export", "--model", str(model), "--output_dir", str(out)]) == 0
    before = (out / "model.onnx").read_bytes()
    args = ["export", "--model", str(model), "--output_dir", str(out), "--quantize", "int8"]
    assert main([*args, "--eval_data", str(tiny_trained.parent / "topics.csv")]) == 2
    assert (out / "model.onnx").read_bytes() == before
    assert not (out / "model.int8.onnx").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hostile", "onnx"]


def test_predict_cli_gives_the_same_labels_on_both_backends(tiny_trained, exported, capsys):
    texts = [arg for t in NEW_TEXTS for arg in ("--text", t)]
    assert main(["predict", "--model", str(tiny_trained), *texts]) == 0
    torch_rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    # The fp32 file: the tiny model's int8 twin is a different model (see `exported`).
    fp32 = exported / "model.onnx"
    assert main(["predict", "--model", str(fp32), "--backend", "onnx", *texts]) == 0
    onnx_rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["label"] for r in onnx_rows] == [r["label"] for r in torch_rows]
    # Scores are printed to 6 digits: equal to within that rounding.
    onnx_scores = [r["score"] for r in onnx_rows]
    assert onnx_scores == pytest.approx([r["score"] for r in torch_rows], abs=2e-6)
    assert [r["label"] for r in torch_rows][:3] == ["sports", "weather", "food"]


def test_evaluate_an_onnx_export_like_the_pytorch_model(tiny_trained, exported, tmp_path):
    data = str(tiny_trained.parent / "topics.csv")
    torch_out = tmp_path / "torch"
    torch_flags = ("--model", str(tiny_trained), "--all_rows", "--output_dir", str(torch_out))
    assert main(["evaluate", *torch_flags, "--data", data]) == 0
    # The fp32 file, whose report goes beside it by default, named by the file that ran
    # (EXPORT/evaluation/<data>-onnx-model), so the int8 file's would not overwrite it.
    assert main(["evaluate", "--model", str(exported / "model.onnx"), "--backend", "onnx",
                 "--data", data]) == 0  # fmt: skip
    report = exported / "evaluation" / "topics-onnx-model" / "metrics.json"
    onnx = json.loads(report.read_text())
    pytorch = json.loads((torch_out / "metrics.json").read_text())
    assert onnx["samples"] == pytorch["samples"] == 240
    assert onnx["confusion_matrix"] == pytorch["confusion_matrix"]


@pytest.mark.parametrize(
    "extra, message",
    [
        ([], "not a model folder (no config.json)"),
        (["--max_accuracy_drop", "-1"], "max_accuracy_drop must be >= 0"),
        (["--eval_data", "missing.csv"], "missing.csv: no such file"),
        (["--eval_data", "LABELS"], "label 'cooking' never appears in the training data"),
        (["--max_eval_samples", "0"], "max_eval_samples must be at least 1"),
    ],
)
def test_bad_export_requests_are_refused_with_a_clear_message(
    tiny_trained, tmp_path, capsys, extra, message
):
    model = tmp_path if not extra else tiny_trained
    if "LABELS" in extra:
        frame = topic_frame(30)
        frame.loc[0, "label"] = "cooking"
        frame.to_csv(tmp_path / "other.csv", index=False)
        extra = ["--eval_data", str(tmp_path / "other.csv")]
    out = tmp_path / "out"
    assert main(["export", "--model", str(model), "--output_dir", str(out), *extra]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()

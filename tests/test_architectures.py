"""The encoders users bring, each through the whole flow: train -> evaluate -> predict -> export
(fp32 and int8, accepted by the parity checks without --force) -> serve, and resume.

One tiny random model per family (tests/architectures.py), trained once per module and shared by
its steps. Each family's tokenizer is laid out like the real one: RoBERTa, XLM-R and MPNet pad
with id 1 and number positions after it, ModernBERT pads with its last id, and several make no
token_type_ids.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from architectures import ARCHITECTURES, EXTRA_FLAGS, POSITIONS, build
from helpers import tiny_train_args, topic_frame

from bertft.cli import main
from bertft.inference.classifier import Classifier

pytestmark = [pytest.mark.slow, pytest.mark.trains]

# About 15 s of CPU per architecture (train, evaluate, two exports, the app, a resume).

# Unseen texts: short, long, and one past every model's position table (truncated, not a crash).
TEXTS = ["goal team win", "rain snow storm and a cold wind", "cheese bread soup"]
EXPECTED = ["sports", "weather", "food"]
LONG = " ".join(["the forecast says rain and a cold wind"] * (POSITIONS // 4))


@pytest.fixture(scope="module", params=ARCHITECTURES)
def trained(request, tmp_path_factory):
    """(architecture, run folder, data, train flags): the tiny model fine-tuned on the topics."""
    arch = request.param
    root = tmp_path_factory.mktemp(arch)
    data = root / "topics.csv"
    topic_frame(240).to_csv(data, index=False)
    model = build(arch, root / "base")
    args = tiny_train_args(model, data, root / "run", *EXTRA_FLAGS.get(arch, ()))
    assert main(args) == 0
    return arch, root / "run", data, args


@pytest.fixture(scope="module")
def exported(trained):
    """fp32 + int8 export, checked on the labelled topics by the default limits."""
    _, run, data, _ = trained
    args = ["export", "--model", str(run), "--quantize", "int8", "--eval_data", str(data)]
    assert main(args) == 0  # refused exports exit 2; no --force here
    return run / "onnx"


def test_trains_evaluates_and_predicts(trained, tmp_path):
    arch, run, data, _ = trained
    validation = json.loads((run / "metrics.json").read_text())["validation"]
    assert validation["accuracy"] >= 0.9, arch

    out = tmp_path / "evaluation"
    assert (
        main(["evaluate", "--model", str(run), "--data", str(data), "--output_dir", str(out)]) == 0
    )
    evaluated = json.loads((out / "metrics.json").read_text())
    # evaluate re-reads the same held-out validation rows: the same answer as training's.
    assert evaluated["accuracy"] == pytest.approx(validation["accuracy"])

    clf = Classifier.from_pretrained(run)
    assert clf.predict(TEXTS) == EXPECTED
    assert clf.predict([LONG]) == ["weather"]


def test_exports_give_the_pytorch_answers(trained, exported):
    arch, run, _, _ = trained
    report = json.loads((exported / "export_report.json").read_text())
    assert report["accepted"] and not report["forced"], report["problems"]
    assert report["exports"]["fp32"]["max_abs_logit_diff"] < 1e-4, arch
    assert report["exports"]["int8"]["accuracy_drop_points"] <= 1.0

    # Batches and lengths the export never saw, including one cut at the position table.
    torch_clf = Classifier.from_pretrained(run, precision="fp32")
    onnx_clf = Classifier.from_pretrained(exported / "model.onnx", backend="onnx")
    texts = [*TEXTS, LONG]
    for batch in (texts[:1], texts):
        diff = np.abs(onnx_clf.predict_logits(batch) - torch_clf.predict_logits(batch)).max()
        assert diff < 1e-4, arch
    assert onnx_clf.predict(texts) == [*EXPECTED, "weather"]


def test_serves_the_int8_export(exported):
    """The served app on each family's int8 export, in process: `bertft serve --backend onnx`
    as a real process is test_serve.py's (the same app; only the family differs here)."""
    from fastapi.testclient import TestClient

    from bertft.serving.app import create_app
    from bertft.settings import ServeSettings

    clf = Classifier.from_pretrained(exported, backend="onnx")
    assert clf.backend == "onnx" and clf.source.endswith("model.int8.onnx")
    with TestClient(create_app(clf, ServeSettings())) as client:
        answer = client.post("/predict", json={"text": TEXTS[1]}).json()
    assert answer["label"] == "weather"


def test_resumes_to_the_same_model(trained, tmp_path):
    """A run stopped after its second-to-last checkpoint, continued by the same command, ends
    with the weights of the uninterrupted run."""
    from safetensors.torch import load_file

    arch, run, _, args = trained
    checkpoints = sorted(
        (run / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1])
    )
    assert len(checkpoints) >= 2
    out = tmp_path / "run"
    shutil.copytree(run / "checkpoints", out / "checkpoints")
    shutil.rmtree(out / "checkpoints" / checkpoints[-1].name)  # as if killed before the last
    resumed_args = [*args]
    resumed_args[resumed_args.index("--output_dir") + 1] = str(out)
    assert main(resumed_args) == 0
    ours, reference = load_file(out / "model.safetensors"), load_file(run / "model.safetensors")
    assert ours.keys() == reference.keys()
    for name in ours:
        assert ours[name].equal(reference[name]), f"{arch}: {name} differs after resume"


@pytest.mark.parametrize("arch", ["bert", "roberta"])
def test_texts_longer_than_the_position_table_are_cut_to_it(arch, tmp_path, capsys):
    """--train_max_length 128 on a model of 64 positions (RoBERTa's table has 66, offset by its
    pad id): training cuts texts to 64 tokens, and says so, rather than index past the table."""
    frame = topic_frame(60)
    frame.loc[::3, "text"] = frame.loc[::3, "text"] + " " + LONG
    data = tmp_path / "long.csv"
    frame.to_csv(data, index=False)
    model = build(arch, tmp_path / "base")
    args = tiny_train_args(model, data, tmp_path / "run", "--epochs", "1")
    assert main(args) == 0
    assert "train_max_length 128 is more than this model takes; using 64" in capsys.readouterr().err

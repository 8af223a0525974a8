"""Where inference runs: `--device` of predict, evaluate and serve (a GPU when one is visible,
else the CPU), and the precision chosen for it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from bertft.cli import main
from bertft.errors import BertftError
from bertft.hardware import inference_precision, mps_available, resolve_device
from bertft.inference.classifier import Classifier

pytestmark = pytest.mark.unit

GPU = torch.cuda.is_available()
TEXTS = ["rain and wind tonight", "the striker scored a goal", "bread and cheese soup"]


def test_auto_is_the_gpu_when_one_is_visible_else_the_cpu():
    # On a Mac with Apple's MPS, auto is "mps": not testable on the Linux machines used here.
    assert resolve_device("auto") == ("cuda" if GPU else "mps" if mps_available() else "cpu")
    assert resolve_device("cpu") == "cpu"


@pytest.mark.parametrize(
    "device, message",
    [
        ("gpu", "device must be auto, cpu, cuda, cuda:N or mps, got 'gpu'"),
        ("cuda:x", "device must be auto, cpu, cuda, cuda:N or mps, got 'cuda:x'"),
        ("cuda:99", "this machine has" if GPU else "no CUDA GPU is visible here"),
        *([] if mps_available() else [("mps", r"torch has no MPS \(Apple GPU\) device here")]),
    ],
)
def test_a_device_that_cannot_be_used_is_refused(device, message):
    with pytest.raises(BertftError, match=message):
        resolve_device(device)


def test_fp16_weights_need_a_gpu_and_an_fp32_model_stays_fp32():
    with pytest.raises(BertftError, match="fp16 inference needs a CUDA GPU"):
        inference_precision("fp16", None, "cpu")
    assert inference_precision("auto", "fp32", "cpu") == "fp32"
    assert inference_precision("auto", None, "cpu") == "fp32"


def test_predict_and_evaluate_on_the_cpu_are_right(tiny_trained, tmp_path, capsys):
    assert main(["predict", "--model", str(tiny_trained), "--device", "cpu", *_texts()]) == 0
    labels = [json.loads(line)["label"] for line in capsys.readouterr().out.splitlines()]
    assert labels == ["weather", "sports", "food"]  # the topics' own words
    clf = Classifier.from_pretrained(tiny_trained, device="cpu")
    assert clf.device == "cpu" and clf.predict(TEXTS) == labels
    data = tiny_trained.parent / "topics.csv"
    out = tmp_path / "eval"
    flags = ("--data", str(data), "--output_dir", str(out), "--device", "cpu")
    assert main(["evaluate", "--model", str(tiny_trained), *flags]) == 0
    assert json.loads((out / "metrics.json").read_text())["accuracy"] > 0.9


def test_commands_refuse_a_device_they_cannot_use(tiny_trained, capsys):
    model = str(tiny_trained)
    assert main(["predict", "--model", model, "--device", "cuda:99", *_texts()]) == 2
    assert "bertft: error: device cuda:99:" in capsys.readouterr().err
    assert main(["serve", "--model", model, "--device", "tpu"]) == 2
    assert "device must be auto, cpu, cuda, cuda:N or mps, got 'tpu'" in capsys.readouterr().err


def test_onnx_runs_on_the_cpu_only(tiny_trained, tmp_path, capsys):
    onnx = tmp_path / "onnx"
    assert main(["export", "--model", str(tiny_trained), "--output_dir", str(onnx)]) == 0
    capsys.readouterr()
    flags = ("--backend", "onnx", "--device", "cuda")
    assert main(["predict", "--model", str(onnx), *flags, *_texts()]) == 2
    assert "the onnx backend runs on CPU" in capsys.readouterr().err
    assert main(["serve", "--model", str(onnx), *flags]) == 2
    assert "the onnx backend runs on CPU" in capsys.readouterr().err
    assert Classifier.from_pretrained(onnx, backend="onnx").device == "cpu"


@pytest.mark.gpu
@pytest.mark.skipif(not GPU, reason="needs a CUDA GPU")
def test_gpu_predictions_equal_the_cpu_ones(tiny_trained):
    cpu = Classifier.from_pretrained(tiny_trained, device="cpu")
    gpu = Classifier.from_pretrained(tiny_trained, device="cuda")
    assert gpu.device == "cuda"
    assert gpu.predict(TEXTS) == cpu.predict(TEXTS)
    np.testing.assert_allclose(gpu.predict_proba(TEXTS), cpu.predict_proba(TEXTS), atol=1e-4)


def _texts() -> list[str]:
    return [arg for text in TEXTS for arg in ("--text", text)]

"""The bundled MiniLM on real data for each task: multi-label TREC (questions joined), TREC
question pairs, and VADER's movie-snippet ratings (regression). Each run is short; each must
reach a useful level, and plain `pipeline()` must give what `bertft predict` gives."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bertft.cli import main
from bertft.data import read_examples
from bertft.datasets_bundled import BUNDLED, package_dir
from bertft.model import BUNDLED_MODELS

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        package_dir(BUNDLED_MODELS["minilm"][0]) is None
        or package_dir(BUNDLED["trec"].package) is None,
        reason="bundled model/datasets not installed",
    ),
]
SHORT = ["--max_train_samples", "1000", "--max_eval_samples", "300", "--epochs", "2"]


def _train(tmp_path, data: str, *extra: str):
    out = tmp_path / data
    assert main(["train", "--data", data, "--output_dir", str(out), *SHORT, *extra]) == 0
    return out, json.loads((out / "metrics.json").read_text())


def _predict(capsys, out, texts, pairs=None) -> list[dict]:
    args = ["predict", "--model", str(out)]
    for i, text in enumerate(texts):
        args += ["--text", text] + (["--text_pair", pairs[i]] if pairs else [])
    capsys.readouterr()
    assert main(args) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_multi_label_trec(tmp_path, capsys):
    from transformers import pipeline

    out, metrics = _train(tmp_path, "trec_multilabel")
    assert metrics["task"] == "multi_label"
    assert metrics["validation"]["f1_micro"] >= 0.80
    texts = read_examples("trec_multilabel").texts[-20:]
    rows = _predict(capsys, out, texts)
    thresholds = json.loads((out / "config.json").read_text())["bertft_task"]["thresholds"]
    plain = pipeline("text-classification", model=str(out), top_k=None)(texts)
    for row, answer in zip(rows, plain, strict=True):
        picked = sorted(a["label"] for a in answer if a["score"] >= thresholds[a["label"]])
        assert picked == sorted(row["labels"])


def test_pairs_trec(tmp_path, capsys):
    from transformers import pipeline

    out, metrics = _train(tmp_path, "trec_pairs")
    assert metrics["text_pair_column"] == "text_pair"
    assert metrics["validation"]["accuracy"] >= 0.75  # chance is 0.5
    examples = read_examples("trec_pairs")
    texts, pairs = examples.texts[-20:], examples.pairs[-20:]
    rows = _predict(capsys, out, texts, pairs)
    classify = pipeline("text-classification", model=str(out))
    plain = [classify({"text": a, "text_pair": b}) for a, b in zip(texts, pairs, strict=True)]
    assert [p["label"] for p in plain] == [r["label"] for r in rows]


def test_regression_vader_movies(tmp_path, capsys):
    from transformers import pipeline

    out, metrics = _train(tmp_path, "vader_movies")
    assert metrics["task"] == "regression"
    validation = metrics["validation"]
    assert validation["pearson"] >= 0.6
    texts = read_examples("vader_movies").texts[-20:]
    rows = _predict(capsys, out, texts)
    plain = pipeline("text-classification", model=str(out))(texts)
    assert np.allclose([p["score"] for p in plain], [r["value"] for r in rows], atol=1e-3)
    values = np.array([r["value"] for r in rows])
    assert values.min() < -0.5 and values.max() > 0.5  # the ratings' scale, not standardised

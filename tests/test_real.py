"""Real fine-tunes of the bundled MiniLM on bundled data. Slow: about a minute each."""

from __future__ import annotations

import json

import pytest

from bertft.cli import main
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


def test_minilm_learns_trec_from_a_subset(tmp_path):
    out = tmp_path / "trec"
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
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["validation"]["accuracy"] >= 0.80
    assert metrics["labels"] == ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]

    from transformers import pipeline

    label = pipeline("text-classification", model=str(out))("What is the capital of France?")
    assert label[0]["label"] == "LOC"

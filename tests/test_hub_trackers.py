"""--push_to_hub (offline here: a clear error, the model kept) and --report_to checks."""

from __future__ import annotations

import importlib.util
import json

import pytest
from conftest import tiny_train_args

from bertft.cli import main


def test_push_without_repository_id_is_refused_before_training(
    tiny_model, topic_csv, tmp_path, capsys
):
    out = tmp_path / "run"
    assert main(tiny_train_args(tiny_model, topic_csv, out, "--push_to_hub")) == 2
    assert "--push_to_hub needs --repository_id" in capsys.readouterr().err
    assert not out.exists()


def test_malformed_repository_id_is_refused_before_training(
    tiny_model, topic_csv, tmp_path, capsys
):
    out = tmp_path / "run"
    flags = ("--push_to_hub", "--repository_id", "me/models/topics")
    assert main(tiny_train_args(tiny_model, topic_csv, out, *flags)) == 2
    assert "--repository_id me/models/topics: not a valid hub id" in capsys.readouterr().err
    assert not out.exists()


def test_push_offline_fails_clearly_and_keeps_the_trained_model(
    tiny_model, topic_csv, tmp_path, capsys
):
    out = tmp_path / "run"
    flags = ("--epochs", "1", "--push_to_hub", "--repository_id", "me/topics")
    assert main(tiny_train_args(tiny_model, topic_csv, out, *flags)) == 2
    err = capsys.readouterr().err
    assert f"bertft: error: could not push {out} to the Hugging Face Hub as me/topics" in err
    assert "offline mode is enabled" in err
    assert f"The trained model is saved in {out}" in err
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(out)
    assert set(model.config.label2id) == {"food", "sports", "weather"}
    assert json.loads((out / "metrics.json").read_text())["validation"]["samples"] == 48
    card = (out / "README.md").read_text()
    assert 'pipeline("text-classification", model="me/topics")' in card
    assert "name: me/topics" in card


@pytest.mark.parametrize("tracker", ["mlflow", "wandb"])
def test_missing_tracker_package_is_refused_before_training(
    tiny_model, topic_csv, tmp_path, capsys, tracker
):
    if importlib.util.find_spec(tracker) is not None:
        pytest.skip(f"{tracker} is installed here, so it cannot be missing")
    out = tmp_path / "run"
    assert main(tiny_train_args(tiny_model, topic_csv, out, "--report_to", tracker)) == 2
    err = capsys.readouterr().err
    assert f"--report_to {tracker} needs the {tracker} package: pip install {tracker}" in err
    assert not out.exists()

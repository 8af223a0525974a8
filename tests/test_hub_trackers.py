"""--push_to_hub (offline here: a clear error, the model kept) and --report_to checks."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest
from helpers import tiny_train_args

from bertft.cli import main

pytestmark = pytest.mark.unit


def test_push_without_repository_id_is_refused_before_training(
    tiny_model, topic_csv, tmp_path, capsys
):
    out = tmp_path / "run"
    assert main(tiny_train_args(tiny_model, topic_csv, out, "--push_to_hub")) == 2
    assert "push_to_hub needs repository_id" in capsys.readouterr().err
    assert not out.exists()


def test_malformed_repository_id_is_refused_before_training(
    tiny_model, topic_csv, tmp_path, capsys
):
    out = tmp_path / "run"
    flags = ("--push_to_hub", "--repository_id", "me/models/topics")
    assert main(tiny_train_args(tiny_model, topic_csv, out, *flags)) == 2
    assert "--repository_id me/models/topics: not a valid hub id" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.trains
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
    tiny_model, topic_csv, tmp_path, capsys, monkeypatch, tracker
):
    monkeypatch.setitem(sys.modules, tracker, None)  # how Python spells "not installed"
    out = tmp_path / "run"
    assert main(tiny_train_args(tiny_model, topic_csv, out, "--report_to", tracker)) == 2
    err = capsys.readouterr().err
    assert f"--report_to {tracker} needs the {tracker} package: pip install {tracker}" in err
    assert not out.exists()


def _train_in_a_process(model, data, out, env: dict[str, str], *flags: str):
    """A tracker keeps process-wide state (wandb starts a service process): one run apiece."""
    args = tiny_train_args(model, data, out, "--epochs", "2", *flags)
    return subprocess.run(
        [sys.executable, "-m", "bertft", *args],
        env={**os.environ, "HF_HUB_OFFLINE": "1", **env},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.trains
@pytest.mark.subprocess
def test_mlflow_run_logs_the_validation_metrics(tiny_model, topic_csv, tmp_path):
    store = tmp_path / "mlruns"
    env = {"MLFLOW_TRACKING_URI": f"file:{store}", "MLFLOW_ALLOW_FILE_STORE": "true"}
    flags = ("--report_to", "mlflow")
    done = _train_in_a_process(tiny_model, topic_csv, tmp_path / "run", env, *flags)
    assert done.returncode == 0, done.stderr[-2000:]
    (run,) = [p for p in store.glob("*/*") if (p / "metrics").is_dir()]
    logged = (run / "metrics" / "eval_accuracy").read_text().split("\n")
    accuracies = [float(line.split()[1]) for line in logged if line]
    assert len(accuracies) == 2  # one per epoch
    final = json.loads((tmp_path / "run" / "metrics.json").read_text())["validation"]["accuracy"]
    assert final == pytest.approx(max(accuracies))  # the best epoch is the model kept


def test_unreachable_mlflow_is_refused_before_training(tiny_model, topic_csv, tmp_path, capsys):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    uri = f"http://127.0.0.1:{port}"
    out = tmp_path / "run"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("MLFLOW_TRACKING_URI", uri)
        assert main(tiny_train_args(tiny_model, topic_csv, out, "--report_to", "mlflow")) == 2
    err = capsys.readouterr().err
    assert f"--report_to mlflow: cannot use the tracking store {uri}" in err
    assert not out.exists()


@pytest.mark.trains
@pytest.mark.subprocess
def test_wandb_offline_run_logs_the_validation_metrics(tiny_model, topic_csv, tmp_path):
    env = {"WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path), "WANDB_CONFIG_DIR": str(tmp_path)}
    flags = ("--report_to", "wandb")
    done = _train_in_a_process(tiny_model, topic_csv, tmp_path / "run", env, *flags)
    assert done.returncode == 0, done.stderr[-2000:]
    (log,) = (tmp_path / "wandb").glob("offline-run-*/run-*.wandb")
    records = log.read_bytes()  # W&B's record log: protobuf, keys stored as text
    assert b"eval/accuracy" in records and b"train/loss" in records


def test_wandb_without_an_api_key_is_refused_before_training(
    tiny_model, topic_csv, tmp_path, capsys, monkeypatch
):
    for name in ("WANDB_MODE", "WANDB_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HOME", "WANDB_CONFIG_DIR", "WANDB_DIR"):  # no ~/.netrc, no saved login
        monkeypatch.setenv(name, str(tmp_path))
    out = tmp_path / "run"
    assert main(tiny_train_args(tiny_model, topic_csv, out, "--report_to", "wandb")) == 2
    err = capsys.readouterr().err
    assert "--report_to wandb: no W&B API key; run `wandb login`" in err
    assert "WANDB_MODE=offline" in err
    assert not out.exists()

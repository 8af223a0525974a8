"""Each task (multi-label with class weights, regression, text pairs) through the rest of the
tool: an interrupted run resumes bit for bit, export checks parity in the task's own metric, and
the server answers as the Classifier does."""

from __future__ import annotations

import csv as csv_module
import io
import json
import subprocess
from pathlib import Path

import httpx
import pytest
from helpers import (
    RESUME_FLAGS,
    assert_same_result,
    finish,
    interrupt_at_step,
    resume_command,
    start_run,
    tiny_train_args,
)
from serve_helpers import running_server
from task_data import multi_label_rows, pair_frame, regression_frame

from bertft.cli import main
from bertft.inference.classifier import Classifier

pytestmark = [pytest.mark.slow, pytest.mark.trains, pytest.mark.subprocess]


# name -> (file name, how to write it, extra training flags)
TASKS = {
    "multi_label": ("tags.jsonl", "--class_weights", "auto"),
    "regression": ("scores.csv",),
    "pairs": ("pairs.csv",),
}


def _write(task: str, path, n: int = 120, seed: int = 0) -> None:
    if task == "multi_label":  # test data, not library code: one writer per kind of set
        path.write_text("".join(json.dumps(r) + "\n" for r in multi_label_rows(n, seed)))
    elif task == "regression":
        regression_frame(n, seed).to_csv(path, index=False)
    else:
        pair_frame(n, seed).to_csv(path, index=False)


@pytest.fixture(scope="module", params=list(TASKS))
def run(request, tiny_model, tmp_path_factory):
    """(task, model, data, flags, root, an uninterrupted reference run)."""
    task = request.param
    root = tmp_path_factory.mktemp(task)
    file, *flags = TASKS[task]
    data = root / file
    _write(task, data)
    reference = root / "reference"
    code, err = finish(start_run(tiny_model, data, reference, *flags))
    assert code == 0, err[-2000:]
    return task, tiny_model, data, flags, root, reference


def test_sigterm_and_resume_end_with_the_same_model(run):
    task, model, data, flags, root, reference = run
    out = root / "sigterm"
    interrupt_at_step(model, data, out, *flags, step=9)  # of about 30, after the first save
    code, err = finish(start_run(model, data, out, *flags))
    assert code == 0 and "resuming from" in err, err[-2000:]
    assert_same_result(out, reference)
    assert (
        json.loads((out / "metrics.json").read_text())["task"]
        == json.loads((reference / "metrics.json").read_text())["task"]
    )


def _close(a, b) -> bool:
    """Equal, numbers to float noise (a temperature or interval fitted on gathered logits)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, rel=1e-4)
    return a == b


@pytest.mark.parametrize("task", list(TASKS))
def test_torchrun_trains_each_task_like_one_process(task, still_model, tmp_path):
    """Two processes with half the per-device batch train as one process does: the same global
    batch, the task's own loss, and its metric gathered across ranks. Without dropout (the
    still model), the only difference left is float rounding."""
    file, *flags = TASKS[task]
    data, validation = tmp_path / file, tmp_path / ("validation" + Path(file).suffix)
    # 15 global batches of 16, and a validation file rather than a split: with a count that
    # does not divide, torchrun's sampler repeats texts to even out the ranks (and batches end
    # unevenly), so the two runs would not see the same data.
    _write(task, data, 240)
    _write(task, validation, 40, seed=3)
    flags = [*flags, "--validation_data", str(validation)]
    one, two = tmp_path / "one", tmp_path / "two"
    # The one-process reference in process: compared to float rounding, not bit for bit.
    assert main(tiny_train_args(still_model, data, one, *RESUME_FLAGS, *flags)) == 0
    command = resume_command(still_model, data, two, *flags, "--per_device_train_batch_size", "8")
    done = subprocess.run([*command, "--nproc", "2"], capture_output=True, text=True, timeout=400)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "world size 2, global batch 16" in done.stdout + done.stderr
    ours, theirs = (json.loads((o / "metrics.json").read_text()) for o in (two, one))
    assert ours["task"] == theirs["task"] == ("single_label" if task == "pairs" else task)
    losses = [(h["step"], h["loss"]) for h in ours["history"] if "loss" in h]
    reference = [(h["step"], h["loss"]) for h in theirs["history"] if "loss" in h]
    assert [step for step, _ in losses] == [step for step, _ in reference]
    for (step, a), (_, b) in zip(losses, reference, strict=True):
        assert a == pytest.approx(b, rel=1e-4), f"step {step}"
    for key, value in theirs["validation"].items():
        if isinstance(value, float) and not key.endswith(("seconds", "per_second")):
            assert ours["validation"][key] == pytest.approx(value, rel=0.02, abs=0.01), key
    # What predict and serve read back: the task (with its per-label thresholds) and pair column.
    ours, theirs = (json.loads((o / "config.json").read_text()) for o in (two, one))
    assert _close(ours["bertft_task"], theirs["bertft_task"])
    assert ours["bertft_encoder"] == theirs["bertft_encoder"]  # its pair column among them


def test_export_checks_parity_in_the_tasks_metric(run, capsys):
    task, _, data, _, root, reference = run
    held = root / ("held" + data.suffix)
    _write(task, held, 40, seed=5)
    args = ["export", "--model", str(reference), "--quantize", "int8", "--eval_data", str(held)]
    args += ["--max_accuracy_drop", "50"]  # the tiny model's int8 is rough; the gate is shown
    if task == "regression":
        args += ["--label_column", "score"]
    assert main(args) == 0
    report = json.loads((reference / "onnx" / "export_report.json").read_text())
    metric = {"multi_label": "f1_micro", "regression": "rmse", "pairs": "accuracy"}[task]
    assert report["pytorch"]["metric"] == metric
    assert report["exports"]["fp32"]["agreement"] == 1.0
    assert report["exports"]["fp32"][metric] == pytest.approx(report["pytorch"][metric], abs=1e-4)
    assert "accuracy_drop_points" in report["exports"]["int8"]
    printed = capsys.readouterr().out
    assert f"pytorch  {metric}" in printed


@pytest.mark.serves
def test_server_answers_like_the_classifier(run):
    task, _, data, _, _, reference = run
    clf = Classifier.from_pretrained(reference)
    texts = ["goal team win", "rain snow storm", "cheese bread soup"]
    pairs = ["cheese soup", "goal match", "snow sky"] if task == "pairs" else None
    expected = clf.answers(texts, pairs)
    items = (
        [{"text": t, "text_pair": p} for t, p in zip(texts, pairs, strict=True)] if pairs else texts
    )
    body = {"texts": items}
    with running_server(reference) as url:
        got = httpx.post(f"{url}/predict", json=body).json()["predictions"]
        single = {"text": texts[0], **({"text_pair": pairs[0]} if pairs else {})}
        one = httpx.post(f"{url}/predict", json=single).json()
        info = httpx.get(f"{url}/info").json()
        if pairs:  # a pair model refuses a lone text, saying what it needs
            lone = httpx.post(f"{url}/predict", json={"text": "goal"})
            assert lone.status_code == 422 and "text_pair" in lone.json()["error"]
            _assert_pairs_in_every_format(url, texts, pairs, expected)
        else:  # SageMaker's CSV: the task's decision first in each answer row
            answered = httpx.post(
                f"{url}/invocations", content="\n".join(texts), headers={"content-type": "text/csv"}
            )
            assert answered.status_code == 200, answered.text
            firsts = [row[0] for row in csv_module.reader(io.StringIO(answered.text))]
            if task == "regression":
                assert [float(v) for v in firsts] == pytest.approx(
                    [e["value"] for e in expected], abs=1e-4
                )
            else:
                assert firsts == ["|".join(e["labels"]) for e in expected]
    _assert_same_answers(got, expected)
    _assert_same_answers([one], expected[:1])
    assert info["task"] == clf.task.name and info["pairs"] == (pairs is not None)


def _assert_pairs_in_every_format(url, texts, pairs, expected) -> None:
    """A pair in each client format gets the Classifier's label: the Hugging Face toolkit's
    {"inputs": {"text", "text_pair"}}, TEI's [[text, text_pair]], SageMaker's two-column CSV and
    JSON Lines."""
    labels = [e["label"] for e in expected]
    hf = httpx.post(f"{url}/predict", json={"inputs": {"text": texts[0], "text_pair": pairs[0]}})
    assert hf.status_code == 200 and hf.json()[0]["label"] == labels[0], hf.text
    both = [list(pair) for pair in zip(texts, pairs, strict=True)]
    tei = httpx.post(f"{url}/predict", json={"inputs": both})
    assert [a[0]["label"] for a in tei.json()] == labels, tei.text
    body = "".join(f"{t},{p}\n" for t, p in zip(texts, pairs, strict=True))
    csv = httpx.post(f"{url}/invocations", content=body, headers={"content-type": "text/csv"})
    rows = list(csv_module.reader(io.StringIO(csv.text)))  # label,score a row; no header
    assert csv.status_code == 200 and [r[0] for r in rows] == labels, csv.text
    lines = "".join(json.dumps(pair) + "\n" for pair in both)
    jsonl = httpx.post(
        f"{url}/invocations",
        content=lines,
        headers={"content-type": "application/jsonlines", "accept": "application/jsonlines"},
    )
    got = [json.loads(line)["label"] for line in jsonl.text.splitlines()]
    assert jsonl.status_code == 200 and got == labels, jsonl.text


def _assert_same_answers(got: list[dict], expected: list[dict]) -> None:
    for a, b in zip(got, expected, strict=True):
        assert a.keys() == b.keys()
        for key in a:
            if isinstance(a[key], float | dict):
                assert a[key] == pytest.approx(b[key], abs=1e-4)
            else:
                assert a[key] == b[key]

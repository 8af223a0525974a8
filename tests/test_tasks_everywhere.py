"""Each task (multi-label with class weights, regression, text pairs) through the rest of the
tool: an interrupted run resumes bit for bit, export checks parity in the task's own metric, and
the server answers as the Classifier does."""

from __future__ import annotations

import json
import random
import signal
import time

import httpx
import pytest
from serve_helpers import running_server
from task_data import multi_label_rows, pair_frame, regression_frame
from test_resume import _assert_same_result, _finish, _start, _wait_for_training

from bertft.cli import main
from bertft.predict import Classifier

# Two training runs per task plus export and a server: minutes, not seconds.
pytestmark = pytest.mark.slow

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
    code, err = _finish(_start(tiny_model, data, reference, *flags))
    assert code == 0, err[-2000:]
    return task, tiny_model, data, flags, root, reference


def test_sigterm_and_resume_end_with_the_same_model(run):
    task, model, data, flags, root, reference = run
    out = root / "sigterm"
    proc = _start(model, data, out, *flags, step_seconds=0.05)
    _wait_for_training(out, proc)
    time.sleep(random.uniform(0.0, 1.0))
    proc.send_signal(signal.SIGTERM)
    code, err = _finish(proc)
    assert code == 143, err[-2000:]
    code, err = _finish(_start(model, data, out, *flags))
    assert code == 0 and "resuming from" in err, err[-2000:]
    _assert_same_result(out, reference)
    assert (
        json.loads((out / "metrics.json").read_text())["task"]
        == json.loads((reference / "metrics.json").read_text())["task"]
    )


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
    _assert_same_answers(got, expected)
    _assert_same_answers([one], expected[:1])
    assert info["task"] == clf.task.name and info["pairs"] == (pairs is not None)


def _assert_same_answers(got: list[dict], expected: list[dict]) -> None:
    for a, b in zip(got, expected, strict=True):
        assert a.keys() == b.keys()
        for key in a:
            if isinstance(a[key], float | dict):
                assert a[key] == pytest.approx(b[key], abs=1e-4)
            else:
                assert a[key] == b[key]

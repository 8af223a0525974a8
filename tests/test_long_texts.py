"""Long texts: documents -> windows -> documents, the same everywhere a text goes in.

Window arithmetic on plain numbers; the encoder and the Classifier on the tiny model (its
vocabulary is word-level, so a text of N known words is N tokens and windows can be checked
word by word); training, evaluation, predict, ONNX and serve through the real CLI and app.
"""

from __future__ import annotations

import json
import random

import numpy as np
import pandas as pd
import pytest
from helpers import FILLER, TOPICS, tiny_train_args

from bertft.cli import main
from bertft.windows import CutStats, WindowSpec, plan, pool, tokens_read

pytestmark = pytest.mark.unit

WINDOW = 16  # tokens, [CLS] and [SEP] included: 14 words of text per window


def is_long(i: int) -> bool:
    """Rows 0-2, 9-11, 18-20, ...: every label has long texts."""
    return (i // 3) % 3 == 0


def long_frame(n: int = 180, seed: int = 1) -> pd.DataFrame:
    """Topic texts from 4 to 60 words; a third are longer than a 16-token window. In the long
    ones the topic words come only after a run of filler, so reading the start is not enough."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = list(TOPICS)[i % len(TOPICS)]
        if is_long(i):
            words = rng.choices(FILLER, k=rng.randint(20, 40)) + rng.choices(TOPICS[label], k=8)
        else:
            words = rng.choices(TOPICS[label], k=rng.randint(3, 6)) + rng.choices(FILLER, k=1)
            rng.shuffle(words)
        rows.append({"text": " ".join(words), "label": label})
    return pd.DataFrame(rows)


# --- windows: pure arithmetic ---------------------------------------------------------------------


def test_chunks_cover_the_whole_text_with_the_stride_as_overlap():
    spec = WindowSpec(max_length=128, strategy="chunk", stride=32)
    windows = plan(300, 126, spec)
    assert windows == [((0, 126),), ((94, 220),), ((174, 300),)]  # the last one ends at the end
    assert tokens_read(windows) == 300
    assert plan(126, 126, spec) == [((0, 126),)]  # fits: one window, whatever the strategy
    # Capped in training: evenly spread, first and last kept.
    many = plan(1000, 126, spec)
    capped = plan(1000, 126, spec, cap=3)
    assert len(many) == 11 and capped == [many[0], many[5], many[10]]


def test_truncate_and_head_tail_read_one_window_of_the_start_or_both_ends():
    truncate = plan(300, 100, WindowSpec(max_length=102))
    assert truncate == [((0, 100),)] and tokens_read(truncate) == 100
    head_tail = plan(300, 100, WindowSpec(max_length=102, strategy="head_tail"))
    assert head_tail == [((0, 25), (225, 300))]  # a quarter from the start, the rest the end
    custom = WindowSpec(max_length=102, strategy="head_tail", head_fraction=0.5)
    assert plan(300, 100, custom) == [((0, 50), (250, 300))]


def test_cut_stats_count_texts_over_the_window_and_tokens_dropped():
    spec = WindowSpec(max_length=12, strategy="truncate")
    stats = CutStats(max_length=12, strategy="truncate")
    for length in (5, 10, 30, 50):  # body 10: two texts are cut, losing 20 and 40 tokens
        stats.add(length, plan(length, 10, spec), 10)
    assert (stats.texts, stats.over, stats.tokens, stats.dropped) == (4, 2, 95, 60)
    assert "2 of 4 texts (50%) exceed the 12-token window" in stats.describe()
    assert "63.2% of all tokens dropped" in stats.describe()
    assert CutStats.from_dict(stats.as_dict()) == stats


def test_pooling_makes_one_row_per_document():
    logits = np.array([[1.0, 0.0], [3.0, -2.0], [0.0, 5.0]])
    owner = [0, 0, 1]
    assert pool(logits, owner, 2, "mean").tolist() == [[2.0, -1.0], [0.0, 5.0]]
    assert pool(logits, owner, 2, "max").tolist() == [[3.0, 0.0], [0.0, 5.0]]


@pytest.mark.parametrize(
    "flags, message",
    [
        (("--long_texts", "sliding"), "invalid choice"),
        (("--stride", "14"), "--stride 14: must be from 0 to"),
        (("--head_fraction", "1.5"), "--head_fraction 1.5: must be between 0 and 1"),
        (("--max_windows_per_text", "0"), "--max_windows_per_text 0: must be at least 1"),
        (("--chunk_pooling", "sum"), "invalid choice"),
    ],
)
def test_bad_window_settings_are_refused_before_anything_loads(tmp_path, capsys, flags, message):
    args = ["train", "--data", "nowhere.csv", "--train_max_length", str(WINDOW), *flags]
    try:
        code = main(args)
    except SystemExit as e:  # argparse refuses a choice itself
        code = e.code
    assert code == 2
    assert message in capsys.readouterr().err


# --- the encoder and the Classifier on the tiny model ------------------------------------------


def _classifier(folder, num_labels: int = 3, problem_type: str | None = None, **encoder):
    """The tiny model as a Classifier that reads texts through `encoder` settings (for the task
    that `problem_type` names; default single-label)."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from bertft.data.encoding import ENCODER_KEY
    from bertft.inference.classifier import Classifier

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(
        folder, num_labels=num_labels, problem_type=problem_type
    )
    setattr(model.config, ENCODER_KEY, {"max_length": WINDOW, **encoder})
    return Classifier.from_model(model, tokenizer, batch_size=4)


def _three_windows() -> tuple[str, list[str]]:
    """A 42-word text: exactly three 14-word windows at stride 0, and those windows."""
    rng = random.Random(0)
    pieces = [" ".join(rng.choices(TOPICS["sports"] + FILLER, k=14)) for _ in range(3)]
    return " ".join(pieces), pieces


def test_a_document_in_n_windows_gives_one_prediction_the_mean_of_its_windows(tiny_model):
    clf = _classifier(tiny_model, strategy="chunk", stride=0)
    document, pieces = _three_windows()  # 42 words: exactly three 14-word windows, no overlap
    encoded = clf.encode([document, "goal"])
    assert encoded.owner == [0, 0, 0, 1] and encoded.stats.over == 1
    logits = clf.predict_logits([document, "goal"])
    assert logits.shape == (2, 3)  # one row per document, never per window
    each = clf.predict_logits(pieces)
    np.testing.assert_allclose(logits[0], each.mean(axis=0), atol=1e-5)
    np.testing.assert_allclose(logits[1], clf.predict_logits(["goal"])[0], atol=1e-6)
    assert clf.last_stats.texts == 1 and clf.last_stats.over == 0

    maxed = _classifier(tiny_model, strategy="chunk", stride=0, pooling="max")  # another head
    each = maxed.predict_logits(pieces)
    np.testing.assert_allclose(maxed.predict_logits([document])[0], each.max(axis=0), atol=1e-5)


def test_truncate_reads_the_start_and_head_tail_both_ends(tiny_model):
    words = [f"{w}" for w in (TOPICS["food"] * 3)[:30]]
    document = " ".join(words)
    truncate = _classifier(tiny_model, strategy="truncate")
    head_tail = _classifier(tiny_model, strategy="head_tail", head_fraction=0.5)
    np.testing.assert_allclose(
        truncate.predict_logits([document]),
        truncate.predict_logits([" ".join(words[:14])]),
        atol=1e-6,
    )
    both_ends = " ".join(words[:7] + words[-7:])
    np.testing.assert_allclose(
        head_tail.predict_logits([document]), head_tail.predict_logits([both_ends]), atol=1e-6
    )
    assert head_tail.last_stats.dropped == 0  # the last call read a short text
    head_tail.predict_logits([document])
    assert (head_tail.last_stats.over, head_tail.last_stats.dropped) == (1, 16)


def test_a_model_bertft_did_not_train_is_read_at_its_own_limit_and_says_so(
    tiny_model, tmp_path, capsys
):
    import shutil

    from bertft.inference.classifier import Classifier

    folder = tmp_path / "old"
    shutil.copytree(tiny_model, folder)
    from transformers import AutoModelForSequenceClassification

    AutoModelForSequenceClassification.from_pretrained(folder, num_labels=3).save_pretrained(folder)
    clf = Classifier.from_pretrained(folder, device="cpu")
    assert clf.max_length == 64 and clf.encoder.spec.strategy == "truncate"  # the model's limit
    assert "has no saved encoder (bertft did not train it)" in capsys.readouterr().err


@pytest.mark.parametrize(
    "problem_type, labels", [("multi_label_classification", 3), ("regression", 1)]
)
def test_chunked_multi_label_and_regression_give_one_answer_per_document(
    tiny_model, problem_type, labels
):
    """Windows are pooled as logits, before the task's scores: a document's per-label
    probabilities are the sigmoid of its windows' mean logits, its value their mean value."""
    clf = _classifier(tiny_model, labels, problem_type, strategy="chunk", stride=0)
    document, pieces = _three_windows()
    answers = clf.answers([document, "goal"], top_k=labels)
    assert len(answers) == 2  # one per document, not one per window
    each = clf.predict_logits(pieces)
    np.testing.assert_allclose(
        clf.predict_proba([document])[0], clf.task.scores(each.mean(axis=0, keepdims=True))[0],
        atol=1e-5,
    )  # fmt: skip
    key = "labels" if labels > 1 else "value"
    assert key in answers[0]


def test_the_server_reads_a_long_text_in_windows_and_answers_once(tiny_model):
    from fastapi.testclient import TestClient

    from bertft.serving.app import create_app
    from bertft.settings import ServeSettings

    clf = _classifier(tiny_model, strategy="chunk", stride=0)
    document, _ = _three_windows()
    expected = clf.predict_proba([document, "rain"])
    with TestClient(create_app(clf, ServeSettings(max_batch_size=2))) as client:
        # Truncation off refuses only what the window would cut: a chunked model cuts nothing.
        body = {"inputs": [document, "rain"], "parameters": {"truncation": False}}
        reply = client.post("/predict", json=body)
        assert reply.status_code == 200, reply.text
        metrics = client.get("/metrics").text
    rows = reply.json()
    assert len(rows) == 2
    for row, probs in zip(rows, expected, strict=True):
        best = row[0] if isinstance(row, list) else row
        assert best["score"] == pytest.approx(float(probs.max()), abs=1e-5)
    assert "bertft_texts_total 2.0" in metrics
    assert "bertft_long_texts_total 1.0" in metrics and "bertft_windows_total 4.0" in metrics

    cut = _classifier(tiny_model, strategy="truncate")
    with TestClient(create_app(cut, ServeSettings())) as client:
        refused = client.post("/predict", json={"inputs": document, "truncate": False})
        error = refused.json()["error"]
        assert refused.status_code == 413 and f"({WINDOW} with its special tokens)" in error
        assert client.post("/predict", json={"inputs": document}).status_code == 200
        assert "bertft_tokens_dropped_total 28.0" in client.get("/metrics").text


@pytest.mark.parametrize("strategy", ["chunk", "head_tail"])
def test_text_pairs_refuse_chunk_and_head_tail_in_one_line(tiny_model, tmp_path, capsys, strategy):
    from task_data import pair_frame

    data = tmp_path / "pairs.csv"
    pair_frame(60).to_csv(data, index=False)  # sentence1/sentence2: found without a flag
    out = tmp_path / "run"
    flags = ("--train_max_length", str(WINDOW), "--long_texts", strategy)
    assert main(tiny_train_args(tiny_model, data, out, *flags)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert f"--long_texts {strategy}: text pairs" in err[-1] and "truncate only" in err[-1]
    named = ("--text_pair_column", "sentence2")  # named: refused before the data is read
    assert main(tiny_train_args(tiny_model, "nowhere.csv", out, *flags, *named)) == 2
    assert "truncate only" in capsys.readouterr().err


@pytest.mark.trains
def test_auto_reads_text_pairs_with_truncate_and_says_so(tiny_model, tmp_path, capsys):
    from task_data import pair_frame

    from bertft.inference.classifier import Classifier

    data = tmp_path / "pairs.csv"
    pair_frame(60).to_csv(data, index=False)
    out = tmp_path / "run"
    flags = ("--train_max_length", str(WINDOW), "--epochs", "1")
    assert main(tiny_train_args(tiny_model, data, out, *flags)) == 0
    assert "long texts: truncate (text pairs are read with truncate" in capsys.readouterr().err
    config = json.loads((out / "config.json").read_text())
    assert config["bertft_encoder"]["strategy"] == "truncate"
    assert config["bertft_encoder"]["pair_column"] == "sentence2"
    clf = Classifier.from_pretrained(out, device="cpu")
    frame = pair_frame(4, seed=3)
    assert len(clf.predict(list(frame.sentence1), list(frame.sentence2))) == 4
    long = " ".join(["goal"] * 30)
    clf.predict_logits([long], [long])
    assert clf.last_stats.over == 1 and clf.last_stats.windows == 1  # cut, never chunked


# --- through the CLI: train, evaluate, predict ------------------------------------------------


@pytest.fixture(scope="module")
def long_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("long")
    data = root / "long.csv"
    long_frame().to_csv(data, index=False)
    return data


@pytest.fixture(scope="module")
def chunked(tiny_model, long_data):  # used by slow tests only
    """The tiny model trained on long texts with `--long_texts auto` at a 16-token window."""
    out = long_data.parent / "chunked"
    flags = ("--train_max_length", str(WINDOW), "--epochs", "6", "--stride", "4")
    assert main(tiny_train_args(tiny_model, long_data, out, *flags)) == 0
    return out


def _expected_over(texts: list[str]) -> int:
    return sum(len(t.split()) > WINDOW - 2 for t in texts)


@pytest.mark.trains
@pytest.mark.slow
def test_training_chooses_chunk_says_why_and_records_what_was_cut(chunked, long_data):
    metrics = json.loads((chunked / "metrics.json").read_text())
    assert metrics["long_texts"]["strategy"] == "chunk"  # auto: a third are longer
    assert "exceed the 16-token window" in metrics["long_texts"]["why"]
    validation = metrics["validation"]
    assert validation["samples"] == 36  # texts, not windows
    cut = validation["long_texts"]
    assert cut["texts"] == 36 and cut["windows"] > cut["texts"] and cut["tokens_dropped"] == 0
    train = metrics["long_texts"]["train"]
    over = _expected_over(list(pd.read_csv(long_data).text))
    assert cut["texts_over_window"] + train["texts_over_window"] == over == 60
    # Training keeps at most 4 windows of a text: the rest of its tokens are counted as dropped.
    assert train["windows"] <= 4 * train["texts_over_window"] + (144 - train["texts_over_window"])
    # The window is saved with the model, and read back by predict.
    config = json.loads((chunked / "config.json").read_text())
    assert config["bertft_encoder"]["strategy"] == "chunk"
    assert config["bertft_encoder"]["max_length"] == WINDOW
    assert "long texts" in (chunked / "report.html").read_text()


@pytest.mark.trains
@pytest.mark.slow
def test_evaluate_and_predict_are_per_document_and_report_the_cut(
    chunked, long_data, tmp_path, capsys
):
    frame = pd.read_csv(long_data)
    out = tmp_path / "eval"
    assert main(["evaluate", "--model", str(chunked), "--data", str(long_data), "--all_rows",
                 "--output_dir", str(out)]) == 0  # fmt: skip
    err = capsys.readouterr().err
    over = _expected_over(list(frame.text))
    assert f"long texts: {over} of 180 texts" in err
    report = json.loads((out / "metrics.json").read_text())
    assert report["samples"] == 180 and report["long_texts"]["texts_over_window"] == over
    assert report["accuracy"] >= 0.9  # the topic words sit past the first window
    assert len((out / "predictions.jsonl").read_text().splitlines()) == 180

    long_text = frame.text[0]
    assert main(["predict", "--model", str(chunked), "--text", long_text, "--text", "goal"]) == 0
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    evaluated = json.loads((out / "predictions.jsonl").read_text().splitlines()[0])
    assert [r["label"] for r in rows] == [evaluated["predicted"]["label"], "sports"]
    assert "long texts: 1 of 2 texts (50%) exceed the 16-token window; chunk" in captured.err


@pytest.mark.trains
@pytest.mark.slow
def test_truncate_cannot_see_what_chunk_reads(tiny_model, long_data, chunked):
    """The long texts hide their topic past the first window: a truncating model is at chance
    on them, the chunked one is not."""
    from bertft.inference.classifier import Classifier

    out = long_data.parent / "truncated"
    flags = ("--train_max_length", str(WINDOW), "--epochs", "6", "--long_texts", "truncate")
    assert main(tiny_train_args(tiny_model, long_data, out, *flags)) == 0
    frame = long_frame(90, seed=7)
    long_rows = frame[[is_long(i) for i in frame.index]]
    texts, labels = list(long_rows.text), list(long_rows.label)
    chunk_acc = np.mean(np.array(Classifier.from_pretrained(chunked).predict(texts)) == labels)
    cut_acc = np.mean(np.array(Classifier.from_pretrained(out).predict(texts)) == labels)
    assert chunk_acc >= 0.9 and cut_acc < 0.7


@pytest.mark.trains
@pytest.mark.slow
def test_serve_and_onnx_give_predict_s_answer_for_a_long_text(chunked, long_data, tmp_path):
    from fastapi.testclient import TestClient

    from bertft.inference.classifier import Classifier
    from bertft.inference.export import ExportSettings, export
    from bertft.serving.app import create_app
    from bertft.settings import ServeSettings

    frame = pd.read_csv(long_data)
    texts = [frame.text[0], frame.text[3], "rain", frame.text[1]]
    torch_clf = Classifier.from_pretrained(chunked)
    expected = torch_clf.predict_proba(texts)

    export(ExportSettings(model=str(chunked), output_dir=str(tmp_path / "onnx")))
    onnx_clf = Classifier.from_pretrained(tmp_path / "onnx", backend="onnx")
    assert onnx_clf.encoder.to_dict() == torch_clf.encoder.to_dict()
    np.testing.assert_allclose(onnx_clf.predict_proba(texts), expected, atol=1e-4)

    settings = ServeSettings(max_batch_size=2)
    with TestClient(create_app(Classifier.from_pretrained(chunked), settings)) as client:
        reply = client.post("/predict", json={"texts": texts}).json()["predictions"]
    assert [r["label"] for r in reply] == torch_clf.predict(texts)
    for row, probs in zip(reply, expected, strict=True):
        assert row["score"] == pytest.approx(float(probs.max()), abs=1e-5)


@pytest.mark.trains
@pytest.mark.subprocess
@pytest.mark.slow
def test_a_chunked_run_resumes_exactly_and_only_with_its_windows(tiny_model, tmp_path, capsys):
    from helpers import assert_same_result, finish, interrupt_at_step, start_run

    data = tmp_path / "long.csv"
    long_frame(90).to_csv(data, index=False)
    window = ("--train_max_length", str(WINDOW), "--epochs", "2")
    flags = (*window, "--long_texts", "chunk", "--stride", "4")
    reference = tmp_path / "reference"
    code, err = finish(start_run(tiny_model, data, reference, *flags))
    assert code == 0, err[-2000:]

    out = tmp_path / "interrupted"
    # Of 18 steps, signalled at the ninth: mid-training, after the first save (step 7).
    interrupt_at_step(tiny_model, data, out, *flags, step=9)

    # Other windows are other training data: refused, naming what differs.
    other = tiny_train_args(tiny_model, data, out, "--save_steps", "7", *window)
    assert main([*other, "--long_texts", "head_tail"]) == 2
    assert "encoder.strategy: 'chunk' then, 'head_tail' now" in capsys.readouterr().err

    code, err = finish(start_run(tiny_model, data, out, *flags))
    assert code == 0, err[-2000:]
    assert "resuming from" in err
    assert_same_result(out, reference)

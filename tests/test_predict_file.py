"""`bertft predict --input`: chunked, resumable, columns carried through, bad rows named."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from helpers import slowed_env, topic_frame

from bertft.cli import main

pytestmark = pytest.mark.unit


def _input(tmp_path: Path, n: int = 300, name: str = "in.csv") -> Path:
    frame = topic_frame(n, seed=5)
    frame.insert(0, "id", [f"doc-{i:05d}" for i in range(n)])
    path = tmp_path / name
    if name.endswith(".parquet"):
        frame.to_parquet(path)
    elif name.endswith(".jsonl"):
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_csv(path, index=False)
    return path


def _predict(model: Path, *args: str) -> list[str]:
    return ["predict", "--model", str(model), *args]


def _spawn(*args: str, slowed: bool = False) -> subprocess.Popen:
    """`bertft ARGS` as a subprocess; slowed: 0.2 s after each chunk (tests/hooks)."""
    return subprocess.Popen(
        [sys.executable, "-m", "bertft", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=slowed_env(chunk_seconds=0.2) if slowed else slowed_env(),
    )


def _read(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pandas()
    if path.suffix == ".jsonl":
        return pd.read_json(path, lines=True, dtype=False)
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _wait_for_rows(marker: Path, at_least: int, process: subprocess.Popen) -> int:
    """Wait (on the file, not a clock) until the run has committed `at_least` rows."""
    while True:
        assert process.poll() is None, process.stderr.read()[-2000:]
        if marker.is_file():
            try:
                rows = json.loads(marker.read_text())["done"]["rows"]
            except (ValueError, KeyError):
                rows = 0
            if rows >= at_least:
                return rows
        time.sleep(0.05)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_every_row_once_in_order_with_columns(tiny_trained, tmp_path, suffix, capsys):
    source = _input(tmp_path, 100)
    out = tmp_path / f"out{suffix}"
    assert (
        main(
            _predict(
                tiny_trained,
                "--input",
                str(source),
                "--output",
                str(out),
                "--chunk_size",
                "7",
                "--top_k",
                "2",
            )
        )
        == 0
    )
    got = _read(out)
    expected = pd.read_csv(source, dtype=str)
    assert got["id"].tolist() == expected["id"].tolist()
    assert got["text"].tolist() == expected["text"].tolist()
    # The file's own label column comes through renamed; the model has learnt the topics.
    assert got["label_input"].tolist() == expected["label"].tolist()
    assert (got["label"] == got["label_input"]).mean() > 0.9
    assert not out.with_name(out.name + ".progress.json").exists()
    assert not out.with_name(out.name + ".parts").exists()
    assert "predicting with torch" in capsys.readouterr().err


def test_keep_columns_chooses_and_unknown_columns_are_named(tiny_trained, tmp_path, capsys):
    source = _input(tmp_path, 20, "in.parquet")
    out = tmp_path / "ids.jsonl"
    assert (
        main(
            _predict(
                tiny_trained, "--input", str(source), "--output", str(out), "--keep_columns", "id"
            )
        )
        == 0
    )
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert list(rows[0]) == ["id", "label", "score"]
    assert [r["id"] for r in rows] == [f"doc-{i:05d}" for i in range(20)]
    assert main(_predict(tiny_trained, "--input", str(source), "--keep_columns", "id,nope")) == 2
    assert "--keep_columns: " in capsys.readouterr().err


@pytest.mark.subprocess
@pytest.mark.slow
def test_killed_run_resumes_every_row_exactly_once_in_order(tiny_trained, tmp_path):
    """SIGKILL halfway, then the same command: the output equals an uninterrupted run's."""
    source = _input(tmp_path, 400)
    whole = tmp_path / "whole.csv"
    assert (
        main(
            _predict(
                tiny_trained, "--input", str(source), "--output", str(whole), "--chunk_size", "20"
            )
        )
        == 0
    )
    out = tmp_path / "out.csv"
    args = _predict(
        tiny_trained, "--input", str(source), "--output", str(out), "--chunk_size", "20"
    )
    run = _spawn(*args, slowed=True)
    marker = out.with_name("out.csv.progress.json")
    rows = _wait_for_rows(marker, 200, run)
    run.send_signal(signal.SIGKILL)
    run.wait(timeout=60)
    assert 200 <= rows < 400
    # A killed writer may leave bytes after its last commit: the rerun must drop them.
    with out.open("ab") as f:
        f.write(b"doc-99999,half a ro")
    rerun = _spawn(*args)
    _, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err[-2000:]
    assert "resuming" in err
    assert out.read_bytes() == whole.read_bytes()
    assert _read(out)["id"].tolist() == [f"doc-{i:05d}" for i in range(400)]


@pytest.mark.subprocess
@pytest.mark.slow
def test_sigterm_stops_after_the_chunk_with_143_and_parquet_resumes(tiny_trained, tmp_path):
    source = _input(tmp_path, 300, "in.jsonl")
    out = tmp_path / "out.parquet"
    args = _predict(
        tiny_trained, "--input", str(source), "--output", str(out), "--chunk_size", "25"
    )
    run = _spawn(*args, slowed=True)
    _wait_for_rows(out.with_name("out.parquet.progress.json"), 50, run)
    run.send_signal(signal.SIGTERM)
    _, err = run.communicate(timeout=60)
    assert run.returncode == 143, err[-2000:]
    assert "Run the same command again to continue" in err
    assert not out.exists()  # Parquet is joined from its parts only once complete
    rerun = _spawn(*args)
    _, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err[-2000:]
    got = _read(out)
    assert got["id"].tolist() == [f"doc-{i:05d}" for i in range(300)]


def test_another_command_is_refused_rather_than_mixed(tiny_trained, tiny_model, tmp_path, capsys):
    source = _input(tmp_path, 30)
    out = tmp_path / "out.jsonl"
    marker = out.with_name("out.jsonl.progress.json")
    # An unfinished output of one command (as a killed run leaves it) ...
    assert main(_predict(tiny_trained, "--input", str(source), "--output", str(out))) == 0
    identity = {"top_k": 1}
    marker.write_text(json.dumps({"identity": identity, "done": {"rows": 0, "bytes": 0}}))
    # ... is not continued by another.
    assert main(_predict(tiny_trained, "--input", str(source), "--output", str(out))) == 2
    err = capsys.readouterr().err
    assert "is the unfinished output of another command" in err and "--overwrite" in err
    marker.unlink()
    # A finished output is not overwritten unless asked.
    assert main(_predict(tiny_trained, "--input", str(source), "--output", str(out))) == 2
    assert "already exists" in capsys.readouterr().err
    assert (
        main(_predict(tiny_trained, "--input", str(source), "--output", str(out), "--overwrite"))
        == 0
    )
    assert len(out.read_text().splitlines()) == 30


def test_another_command_is_refused_naming_every_changed_setting(tiny_trained, tmp_path, capsys):
    source = _input(tmp_path, 30)
    with source.open("a") as f:
        f.write('doc-x,"a text",sports,one field too many\n')  # stops the run: output unfinished
    out = tmp_path / "out.jsonl"
    marker = out.with_name("out.jsonl.progress.json")
    command = _predict(tiny_trained, "--input", str(source), "--output", str(out))
    assert main([*command, "--chunk_size", "10"]) == 2
    capsys.readouterr()
    # That command's marker, as if it had asked for other answers and columns.
    saved = json.loads(marker.read_text())
    saved["identity"] |= {"top_k": 3, "keep_columns": "none"}
    marker.write_text(json.dumps(saved))
    assert main(command) == 2
    err = capsys.readouterr().err
    named = err.split("another command (")[1].split("); rerun")[0].split("; ")
    assert sorted(named) == ["keep_columns: 'none' then, 'all' now", "top_k: 3 then, 1 now"]


def test_text_output_refuses_an_existing_file_as_input_output_does(tiny_trained, tmp_path, capsys):
    source = _input(tmp_path, 3)
    out = tmp_path / "out.csv"
    out.write_text("mine\n")
    assert main(_predict(tiny_trained, "--input", str(source), "--output", str(out))) == 2
    refused = capsys.readouterr().err.strip().splitlines()[-1]
    texts = _predict(tiny_trained, "--text", "rain", "--output", str(out))
    assert main(texts) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1] == refused  # same words, same flag
    assert out.read_text() == "mine\n"
    assert main([*texts, "--overwrite"]) == 0
    assert _read(out)["label"].tolist() == ["weather"]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_texts_give_the_file_a_file_of_those_texts_gives(tiny_trained, tmp_path, suffix, capsys):
    texts = ["rain and storm today", "", "the team and the coach win the match", "3.5"]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    from_file, from_texts = tmp_path / f"file{suffix}", tmp_path / f"texts{suffix}"
    top = ("--top_k", "2")
    assert (
        main(_predict(tiny_trained, "--input", str(source), "--output", str(from_file), *top)) == 0
    )
    given = [a for t in texts for a in ("--text", t)]
    assert main(_predict(tiny_trained, *given, "--output", str(from_texts), *top)) == 0
    assert from_texts.read_bytes() == from_file.read_bytes()
    # One rule for an empty text on both paths: no label, and counted (it once got a label).
    err = capsys.readouterr().err
    assert err.count("1 empty text(s)") == 2
    assert _read(from_texts)["label"].fillna("").tolist()[:2] == ["weather", ""]


@pytest.mark.parametrize("given", [[], ["--input", "in.csv"]])
def test_stderr_names_the_backend_that_ran_on_both_paths(tiny_trained, tmp_path, capsys, given):
    _input(tmp_path, 3)
    args = [a if a != "in.csv" else str(tmp_path / a) for a in given] or ["--text", "rain"]
    assert main(_predict(tiny_trained, *args)) == 0
    assert f"bertft: predicting with torch ({tiny_trained}) on cpu" in capsys.readouterr().err


@pytest.fixture
def tiny_multi(tiny_multi_label) -> tuple[Path, Path]:
    """A multi-label run and its JSONL data (list labels), shared with test_tasks.py."""
    out, data, _ = tiny_multi_label
    return out, data


@pytest.mark.trains
def test_csv_output_writes_lists_of_labels_as_the_text_path_does(tiny_multi, tmp_path, capsys):
    model, data = tiny_multi
    rows = [json.loads(line) for line in data.read_text().splitlines()[:6]]
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert main(_predict(model, "--input", str(source))) == 0  # JSON Lines: the answers
    answers = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    out, texts_out = tmp_path / "out.csv", tmp_path / "texts.csv"
    assert main(_predict(model, "--input", str(source), "--output", str(out))) == 0
    texts = [a for r in rows for a in ("--text", r["text"])]
    assert main(_predict(model, *texts, "--output", str(texts_out))) == 0

    written = _read(out)
    # the file's own list labels (two of them in even rows) and the answers, both as "a|b"
    assert written["labels_input"].tolist() == ["|".join(r["labels"]) for r in rows]
    assert written["labels"].tolist() == ["|".join(a["labels"]) for a in answers]
    assert written["labels"].tolist() == _read(texts_out)["labels"].tolist()
    assert [json.loads(s) for s in written["scores"]] == [a["scores"] for a in answers]


def test_empty_texts_are_kept_unlabelled_and_counted(tiny_trained, tmp_path, capsys):
    source = tmp_path / "in.csv"
    source.write_text("id,text\n1,rain and snow\n2,\n3,bread soup\n")
    assert main(_predict(tiny_trained, "--input", str(source))) == 0
    captured = capsys.readouterr()
    rows = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["id"] for r in rows] == ["1", "2", "3"]
    assert rows[1]["label"] is None and rows[0]["label"] == "weather"
    assert "1 empty text(s)" in captured.err


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.csv", b"id,text\n1,ok\n2,too,many\n", "a.csv, row 2 (line 3): 3 fields, expected 2"),
        ("b.csv", b"id,text\n1,ok\n2,\xff\n", "b.csv, line 3: byte 0xff is not valid UTF-8"),
        ("c.jsonl", b'{"text": "ok"}\n{"text": \n', "c.jsonl, line 2: not valid JSON"),
        ("d.jsonl", b'{"text": "ok"}\n[1]\n', "d.jsonl, line 2: expected a JSON object"),
        (
            "e.jsonl",
            b'{"text": "ok"}\n{"text": ["a"]}\n',
            "e.jsonl, line 2, column 'text': expected a text, got list",
        ),
        ("f.jsonl", b'{"text": "ok"}\n{"body": "x"}\n', "f.jsonl, line 2: no 'text' field"),
        ("g.csv", b"id,words\n1,ok\n", "no text column found among id, words"),
        ("h.xlsx", b"x", "unknown format '.xlsx'"),
    ],
)
def test_bad_rows_are_named(tiny_trained, tmp_path, capsys, name, content, message):
    source = tmp_path / name
    source.write_bytes(content)
    assert (
        main(_predict(tiny_trained, "--input", str(source), "--output", str(tmp_path / "o.jsonl")))
        == 2
    )
    last = capsys.readouterr().err.strip().splitlines()[-1]  # one line, no traceback
    assert last.startswith("bertft: error: ") and message in last, last


def test_auto_backend_is_the_int8_export_where_there_is_one(tmp_path):
    from bertft.inference.classifier import resolve_backend

    assert resolve_backend(tmp_path, "auto", "cpu") == "torch"
    (tmp_path / "onnx").mkdir()
    (tmp_path / "onnx" / "model.onnx").write_bytes(b"")
    assert resolve_backend(tmp_path, "auto", "cpu") == "torch"  # fp32 ONNX: no faster here
    (tmp_path / "onnx" / "model.int8.onnx").write_bytes(b"")
    assert resolve_backend(tmp_path, "auto", "cpu") == "onnx"
    assert resolve_backend(tmp_path, "torch", "cpu") == "torch"  # asked for: kept


def _peak_rss_mb(*args: str) -> float:
    """Peak resident memory of a `bertft` run in its own process."""
    code = (
        "import resource, sys; from bertft.cli import main; rc = main(sys.argv[1:]); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024); sys.exit(rc)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return float(done.stdout.split()[-1])


@pytest.mark.subprocess
@pytest.mark.slow
def test_memory_does_not_grow_with_the_file(tiny_trained, tmp_path):
    """A file 10x larger (6 MB vs 0.6 MB) costs less extra memory than the extra bytes: reading
    it whole would hold every text (at least its size) in memory at once."""
    words = " ".join(["the", "rain", "and", "some", "bread"] * 24)  # ~600 characters
    sizes = {}
    for n in (1_000, 10_000):
        source = tmp_path / f"in{n}.csv"
        with source.open("w") as f:
            f.write("id,text\n")
            f.writelines(f"{i},{words} {i}\n" for i in range(n))
        out = tmp_path / f"out{n}.csv"
        peak = _peak_rss_mb(
            "predict",
            "--model",
            str(tiny_trained),
            "--input",
            str(source),
            "--output",
            str(out),
            "--keep_columns",
            "id",
        )
        sizes[n] = (source.stat().st_size / 2**20, peak)
        assert len(out.read_text().splitlines()) == n + 1
    (small_mb, small_peak), (big_mb, big_peak) = sizes[1_000], sizes[10_000]
    assert big_peak - small_peak < big_mb - small_mb, sizes

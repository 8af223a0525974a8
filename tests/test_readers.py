"""One file in every format, read by training, evaluate, the Arrow path and predict: the same
texts, cell for cell (`data.formats`, `data.cells`, `data.columns`)."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
from helpers import TOPICS

from bertft.cli import main
from bertft.config import DataConfig
from bertft.data.arrow import read_arrow
from bertft.data.columns import Columns, Model, resolve
from bertft.data.formats import read_chunks
from bertft.data.load import load_splits, read_examples
from bertft.errors import BertftError
from bertft.evaluate import evaluate
from bertft.inference.predict_file import chunk_texts
from bertft.settings import EvaluateSettings

FORMATS = [".csv", ".tsv", ".json", ".jsonl", ".parquet"]
TEXTS = [
    "plain words",
    "3.0",  # a number as written: training once read "3", predict "3.0"
    "007",  # leading zeros stay
    "",  # empty: skipped by training, left unlabelled by predict
    "   ",  # blank is empty too
    'she said "hi", then left',
    "naïve café, 東京 🙂",
    "line one\nline two",  # a newline inside a quoted CSV cell
    "a,b\tc;d",  # both separators inside a cell
    "  padded  ",
    "1e5",
    "True",
]
# Numbers held as numbers by the typed formats (JSON, Parquet) and as their text by CSV
NUMBERS = [3.0, 2.5, 10.0, None, 0.1, 1e-07, -4.0, 12345.0, 7.25, 0.5, 100.0, 3.5]

pytestmark = pytest.mark.unit


def _frame(labels: list[str] | None = None) -> pd.DataFrame:
    labels = labels or ["01", "b"]
    return pd.DataFrame(
        {
            "id": [f"doc-{i}" for i in range(len(TEXTS))],
            "text": TEXTS,
            "number": NUMBERS,
            "label": [labels[i % len(labels)] for i in range(len(TEXTS))],
        }
    )


def _write(frame: pd.DataFrame, path):
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".tsv":
        frame.to_csv(path, index=False, sep="\t")
    elif path.suffix == ".json":
        frame.to_json(path, orient="records", force_ascii=False, indent=1)
    elif path.suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        frame.to_parquet(path)
    return path


def _expected(column: str) -> list[str]:
    """The cells of `column` with a text, as the file holds them."""
    if column == "text":
        return [t for t in TEXTS if t.strip()]
    return [repr(n) for n in NUMBERS if n is not None]


def _predicts(path, column: str) -> tuple[list[str], list[str]]:
    """The texts predict asks the model about (small chunks, so that rows cross chunks), and
    the names of their rows."""
    texts, rows = [], []
    for chunk in read_chunks(path, 5):
        found, _ = chunk_texts(chunk, Columns(column), str(path))
        texts += [t for t in found if t.strip()]
        rows += [r for t, r in zip(found, chunk.rows, strict=True) if t.strip()]
    return texts, rows


@pytest.mark.parametrize("suffix", FORMATS)
@pytest.mark.parametrize("column", ["text", "number"])
def test_every_stage_reads_the_same_cells(tmp_path, suffix, column):
    path = _write(_frame(), tmp_path / f"d{suffix}")
    training = read_examples(str(path), column)
    # evaluate reads with the columns the model trained on
    evaluating = read_examples(str(path), preferred={"text": column, "label": "label"})
    arrow = read_arrow(str(path), column, None, False, cache_dir=tmp_path / "cache")
    predicted, rows = _predicts(path, column)

    assert training.texts == _expected(column)
    assert evaluating.texts == training.texts
    assert arrow.in_memory().texts == training.texts
    assert predicted == training.texts
    assert training.rows == evaluating.rows == arrow.rows == rows
    labels = [y for t, y in zip(_frame()[column], _frame().label, strict=True) if _filled(t)]
    assert training.labels == list(arrow.labels) == labels  # "01" stays "01"


def _filled(value) -> bool:
    return (
        isinstance(value, str)
        and bool(value.strip())
        or isinstance(value, float)
        and (not math.isnan(value))
    )


def test_csv_rows_name_the_line_a_row_starts_on(tmp_path):
    path = _write(_frame(), tmp_path / "d.csv")
    rows = dict(zip(read_examples(str(path)).texts, read_examples(str(path)).rows, strict=True))
    assert rows["line one\nline two"] == "row 8 (line 9)"
    assert rows["a,b\tc;d"] == "row 9 (line 11)"  # after the row of two lines


def test_a_json_record_without_the_text_field_is_refused_by_every_stage(tmp_path, capsys):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "rain", "label": "a"}\n{"body": "soup", "label": "b"}\n' * 5)
    message = f"{path}, line 2: no 'text' field"
    for read in (
        lambda: read_examples(str(path)),
        lambda: read_arrow(str(path), None, None, False, cache_dir=tmp_path / "cache"),
        lambda: _predicts(path, "text"),
    ):
        with pytest.raises(Exception, match=message.replace(".", r"\.")):
            read()


@pytest.mark.parametrize("where", ["first", "last"])
def test_arrow_keeps_contiguous_rows(tmp_path, where):
    """When the rows with a text are contiguous (the empty one first or last), datasets takes
    the selection as a slice: that once crashed on numpy indices."""
    frame = pd.DataFrame({"text": [f"text {i}" for i in range(40)], "label": ["x", "y"] * 20})
    frame.loc[0 if where == "first" else 39, "text"] = ""
    path = _write(frame, tmp_path / "d.csv")
    splits = load_splits(DataConfig(data=str(path), arrow_from_mb=0), seed=0)
    assert type(splits.train).__name__ == "ArrowExamples"
    assert len(splits.train) + len(splits.validation) == 39
    head = splits.train.subset(range(5)).in_memory()  # contiguous again
    assert head.texts == [splits.train.in_memory().texts[i] for i in range(5)]
    assert head.rows == splits.train.rows[:5]


@pytest.mark.parametrize(
    "suffix, column",
    # CSV cells are texts; JSON and Parquet hold numbers where a JSON 3.0 once became "3"
    [(".csv", "text"), (".tsv", "text"), (".json", "number"), (".jsonl", "number"),
     (".parquet", "number")],
)  # fmt: skip
def test_evaluate_and_predict_give_a_text_the_same_answer(tiny_trained, tmp_path, suffix, column):
    """A trained model, asked by evaluate and by predict about every row of one file: the
    same texts (evaluate's predictions.jsonl) and the same answers."""
    frame = _frame(sorted(TOPICS))
    path = _write(frame, tmp_path / f"d{suffix}")
    eval_dir = tmp_path / "eval"
    asked = EvaluateSettings(
        model=str(tiny_trained), data=str(path), text_column=column, output_dir=str(eval_dir),
        all_rows=True,
    )  # fmt: skip
    assert evaluate(asked)
    lines = (eval_dir / "predictions.jsonl").read_text().splitlines()
    evaluated = [json.loads(line) for line in lines]
    out = tmp_path / "pred.jsonl"
    assert main(["predict", "--model", str(tiny_trained), "--input", str(path),
                 "--text_column", column, "--output", str(out)]) == 0  # fmt: skip
    predicted = [json.loads(line) for line in out.read_text().splitlines()]
    kept = [_filled(v) for v in frame[column]]
    assert [e["text"] for e in evaluated] == _expected(column)
    assert [p["label"] is not None for p in predicted] == kept  # empty texts: no answer
    answered = [p for p in predicted if p["label"] is not None]
    for e, p in zip(evaluated, answered, strict=True):
        answers = e["predicted"] if isinstance(e["predicted"], list) else [e["predicted"]]
        top = max(answers, key=lambda a: a["score"])
        assert (top["label"], top["score"]) == (p["label"], pytest.approx(p["score"], abs=1e-4))


def test_a_blank_csv_line_is_no_row_for_any_stage(tmp_path):
    """Predict once counted a blank line as a row; training (pandas) did not."""
    path = tmp_path / "d.csv"
    path.write_text("text,label\nrain,a\n\nsoup,b\n" + "more,a\n" * 4)
    _, rows = _predicts(path, "text")
    assert read_examples(str(path)).rows == rows
    assert rows[:2] == ["row 1 (line 2)", "row 2 (line 4)"]


def test_a_csv_row_short_of_fields_is_refused_by_training_as_by_predict(tmp_path):
    """pandas filled a short row with empty cells, so training took it; predict refused it."""
    path = tmp_path / "d.csv"
    path.write_text("id,text,label\n1,rain,a\n2,soup\n" + "3,more,b\n" * 4)
    message = f"{path}, row 2 (line 3): 2 fields, expected 3 as in the header (id, text, label)"
    for read in (lambda: read_examples(str(path)), lambda: _predicts(path, "text")):
        with pytest.raises(BertftError) as refused:
            read()
        assert str(refused.value) == message


def test_one_resolver_for_a_model_of_single_texts_and_one_of_pairs():
    """A model decides whether pairs are read: one of single texts never takes a usual pair
    (evaluate once did, predict did not); one of pairs takes a usual pair's second text when
    its own column is missing, and says so when there is none."""
    names = ["sentence1", "sentence2", "label"]
    single = Model({"text": "text", "label": "label"}, pairs=False)
    with pytest.raises(BertftError, match="no text column found among sentence1, sentence2"):
        resolve(names, "f.csv", Columns(), single)
    assert resolve(names, "f.csv", Columns()) == Columns("sentence1", "sentence2", "label")
    pair = Model({"text": "query", "text_pair": "reply"}, pairs=True)
    assert resolve(names, "f.csv", Columns(), pair, labels="ignored") == Columns(
        "sentence1", "sentence2", None
    )
    with pytest.raises(BertftError, match="the model reads pairs of texts .* from 'reply'"):
        resolve(["query", "label"], "f.csv", Columns(), pair)
    with pytest.raises(BertftError, match="--text_pair_column b: the model reads single texts"):
        resolve(names, "f.csv", Columns(text_pair="b"), single)

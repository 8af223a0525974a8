"""Reading every supported source, finding columns, labels, splits, and refusing bad input."""

from __future__ import annotations

import json
from collections import Counter

import datasets
import pytest
from helpers import topic_frame

from bertft.config import DataConfig
from bertft.data.load import load_splits, read_examples
from bertft.errors import BertftError
from bertft.tasks import SingleLabel, TaskSettings

pytestmark = pytest.mark.unit


def _write(frame, path):
    suffix = path.suffix
    if suffix == ".csv":
        frame.to_csv(path, index=False)
    elif suffix == ".tsv":
        frame.to_csv(path, index=False, sep="\t")
    elif suffix == ".json":
        frame.to_json(path, orient="records")
    elif suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    elif suffix == ".parquet":
        frame.to_parquet(path)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".json", ".jsonl", ".parquet"])
def test_each_file_format_reads_the_same_examples(tmp_path, suffix):
    frame = topic_frame(30)
    examples = read_examples(str(_write(frame, tmp_path / f"d{suffix}")))
    assert examples.texts == frame.text.tolist()
    assert examples.labels == frame.label.tolist()


def test_saved_dataset_and_dataset_dict_splits(tmp_path):
    frame = topic_frame(30)
    single = tmp_path / "single"
    datasets.Dataset.from_pandas(frame).save_to_disk(str(single))
    assert read_examples(str(single)).texts == frame.text.tolist()

    # ClassLabel ids come back as their names; a DatasetDict is read split by split.
    names = sorted(set(frame.label))
    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=names)}
    )
    encoded = {"text": frame.text.tolist(), "label": [names.index(x) for x in frame.label]}
    dd = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict(encoded, features=features),
            "test": datasets.Dataset.from_dict(encoded, features=features).select(range(5)),
        }
    )
    dd.save_to_disk(str(tmp_path / "dd"))
    assert read_examples(str(tmp_path / "dd")).labels == frame.label.tolist()
    assert read_examples(str(tmp_path / "dd"), split="test").labels == frame.label.tolist()[:5]
    with pytest.raises(BertftError, match=r"has no 'validation' split \(it has train, test\)"):
        read_examples(str(tmp_path / "dd"), split="validation")


def test_json_file_holding_json_lines_is_accepted(tmp_path):
    frame = topic_frame(6)
    path = _write(frame, tmp_path / "d.jsonl").rename(tmp_path / "d.json")
    assert read_examples(str(path)).labels == frame.label.tolist()


def test_columns_found_by_name_or_given(tmp_path):
    frame = topic_frame(12).rename(columns={"text": "Review", "label": "category"})
    frame["id"] = range(12)
    examples = read_examples(str(_write(frame, tmp_path / "d.csv")))
    assert examples.texts == frame.Review.tolist()

    frame = frame.rename(columns={"Review": "body_text", "category": "y_true"})
    path = _write(frame, tmp_path / "e.csv")
    with pytest.raises(
        BertftError,
        match=r"e\.csv: no text column found among body_text, "
        r"y_true, id; name it with --text_column",
    ):
        read_examples(str(path))
    examples = read_examples(str(path), text_column="body_text", label_column="y_true")
    assert examples.labels == frame.y_true.tolist()


def test_well_known_pair_sets_are_read_as_published(tmp_path):
    """The column names of QQP/Quora, SNLI's JSONL and SICK, straight from their files."""
    import pandas as pd

    quora = _write(
        pd.DataFrame({"id": [0, 1], "qid1": [1, 3], "qid2": [2, 4],
                      "question1": ["How old is Paris?", "Is it cold?"],
                      "question2": ["When was Paris founded?", "Will it rain?"],
                      "is_duplicate": [1, 0]}),
        tmp_path / "quora.csv",
    )  # fmt: skip
    read = read_examples(str(quora))
    assert (read.text_column, read.pair_column, read.label_column) == (
        "question1",
        "question2",
        "is_duplicate",
    )
    assert read.pairs == ["When was Paris founded?", "Will it rain?"]
    snli = tmp_path / "snli.jsonl"
    snli.write_text(
        json.dumps({"annotator_labels": ["neutral"], "gold_label": "neutral", "pairID": "1",
                    "sentence1": "A man plays.", "sentence2": "A man sings."}) + "\n"
    )  # fmt: skip
    read = read_examples(str(snli))
    assert (read.pair_column, read.label_column, read.labels) == (
        "sentence2",
        "gold_label",
        ["neutral"],
    )
    sick = _write(
        pd.DataFrame({"pair_ID": [1], "sentence_A": ["A dog runs."], "sentence_B": ["A dog sits."],
                      "relatedness_score": [3.2], "entailment_label": ["NEUTRAL"]}),
        tmp_path / "sick.tsv",
    )  # fmt: skip
    with pytest.raises(BertftError, match="relatedness_score, entailment_label.*--label_column"):
        read_examples(str(sick))  # two published labels: the user picks
    read = read_examples(str(sick), label_column="relatedness_score")
    assert (read.text_column, read.pair_column) == ("sentence_A", "sentence_B")
    assert read.labels == ["3.2"]


def test_bad_columns_are_named(tmp_path):
    frame = topic_frame(6)
    frame["sentence"] = frame.text
    path = _write(frame, tmp_path / "d.csv")
    with pytest.raises(
        BertftError,
        match=r"text column is ambiguous \(text, sentence\); "
        r"choose one with --text_column",
    ):
        read_examples(str(path))
    with pytest.raises(
        BertftError,
        match=r"d\.csv: no column 'body' \(columns: text, label, "
        r"sentence\)",
    ):
        read_examples(str(path), text_column="body")
    no_label = _write(topic_frame(6)[["text"]], tmp_path / "n.csv")
    with pytest.raises(BertftError, match="no label column found"):
        read_examples(str(no_label))
    assert read_examples(str(no_label), labels_required=False).labels is None


def test_integer_labels_sort_numerically_and_strings_alphabetically():
    settings = TaskSettings()
    assert SingleLabel.from_training(["10", "2", "1", "2"], settings).names == ("1", "2", "10")
    labels = SingleLabel.from_training(["spam", "ham", "spam"], settings)
    assert labels.names == ("ham", "spam")
    assert labels.model_settings()["id2label"] == {0: "ham", 1: "spam"}
    assert labels.encode(["spam", "ham"]) == [1, 0]


def test_integer_labels_from_jsonl_keep_their_values(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text(
        "".join(json.dumps({"text": f"t {i}", "label": i % 3}) + "\n" for i in range(9))
    )
    assert read_examples(str(path)).labels == ["0", "1", "2"] * 3


def test_stratified_split_keeps_proportions_and_is_seeded(tmp_path):
    frame = topic_frame(300)
    frame.loc[:59, "label"] = "rare"  # 60 of 300
    examples = read_examples(str(_write(frame, tmp_path / "d.csv")))
    train, val = SingleLabel.split(examples, 0.2, seed=1)
    assert len(val) == 60 and len(train) == 240
    assert Counter(val.labels)["rare"] == 12
    assert not set(train.rows) & set(val.rows)
    assert SingleLabel.split(examples, 0.2, seed=1)[1].texts == val.texts
    assert SingleLabel.split(examples, 0.2, seed=2)[1].texts != val.texts


def test_load_splits_with_files_and_sample_limits(tmp_path):
    train_path = _write(topic_frame(90, seed=1), tmp_path / "train.csv")
    val_path = _write(topic_frame(30, seed=2), tmp_path / "val.jsonl")
    cfg = DataConfig(
        data=str(train_path),
        validation_data=str(val_path),
        test_data=str(val_path),
        max_train_samples=50,
        max_eval_samples=10,
    )
    splits = load_splits(cfg, seed=0)
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (50, 10, 10)
    assert splits.task.names == ("food", "sports", "weather")


# --- bad input: each refused with the file, row and column ---------------------------------


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(BertftError, match=r"nope\.csv: no such file or folder"):
        read_examples(str(tmp_path / "nope.csv"))
    odd = tmp_path / "data.xlsx"
    odd.write_text("x")
    with pytest.raises(BertftError, match=r"data\.xlsx: unknown format '\.xlsx'; expected one of"):
        read_examples(str(odd))
    with pytest.raises(BertftError, match="a folder, but not one saved with datasets.save_to_disk"):
        read_examples(str(tmp_path))


def test_empty_texts_are_skipped_with_a_count_or_refused_when_strict(tmp_path, caplog):
    frame = topic_frame(10)
    frame.loc[3, "text"] = "   "
    frame.loc[7, "text"] = ""
    path = _write(frame, tmp_path / "d.csv")
    examples = read_examples(str(path))
    assert len(examples) == 8
    assert "skipped 2 empty text(s)" in caplog.text  # logged: the CLI shows it on stderr
    with pytest.raises(BertftError, match=r"d\.csv, row 4 \(line 5\), column 'text': empty text"):
        read_examples(str(path), strict=True)


def test_missing_label_names_row_and_column(tmp_path):
    frame = topic_frame(10)
    frame.loc[5, "label"] = ""
    with pytest.raises(
        BertftError, match=r"d\.csv, row 6 \(line 7\), column 'label': missing label"
    ):
        read_examples(str(_write(frame, tmp_path / "d.csv")))
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n{"text": "b", "label": null}\n')
    with pytest.raises(BertftError, match=r"d\.jsonl, line 2, column 'label': missing label"):
        read_examples(str(path))


def test_undecodable_bytes_name_the_line(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"text,label\nhello,a\nbad \xff byte,b\n")
    with pytest.raises(BertftError, match=r"d\.csv, line 3: byte 0xff is not valid UTF-8"):
        read_examples(str(path))


def test_broken_json_names_the_line(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a", "label": "x"}\n{"text": "b", "label": \n')
    with pytest.raises(BertftError, match=r"d\.jsonl, line 2: not valid JSON"):
        read_examples(str(path))
    array = tmp_path / "d.json"
    array.write_text('[{"text": "a", "label": "x"},\n {"text": ]')
    with pytest.raises(BertftError, match=r"d\.json, line 2: not valid JSON"):
        read_examples(str(array))


def test_single_class_is_refused(tmp_path):
    frame = topic_frame(20)
    frame["label"] = "sports"
    cfg = DataConfig(data=str(_write(frame, tmp_path / "d.csv")))
    with pytest.raises(BertftError, match="every training label is 'sports'"):
        load_splits(cfg, seed=0)


def test_validation_label_unseen_in_training_is_refused(tmp_path):
    val = topic_frame(9)
    val.loc[4, "label"] = "politics"
    cfg = DataConfig(
        data=str(_write(topic_frame(30), tmp_path / "t.csv")),
        validation_data=str(_write(val, tmp_path / "v.csv")),
    )
    with pytest.raises(
        BertftError,
        match=r"v\.csv, row 5 \(line 6\), column 'label': label 'politics' never "
        r"appears in the training data",
    ):
        load_splits(cfg, seed=0)


def test_hub_name_offline_gives_a_clear_error():
    with pytest.raises(
        BertftError,
        match=r"'someone/no-such-dataset' is not a bundled dataset "
        r"\(trec, .*\), a local file .* the Hugging Face hub "
        r"could not provide",
    ):
        read_examples("someone/no-such-dataset")


def test_bad_data_settings_are_refused():
    with pytest.raises(BertftError, match="validation_split must be between 0 and 1"):
        DataConfig(validation_split=1.5).validate()
    with pytest.raises(BertftError, match="max_train_samples must be at least 1"):
        DataConfig(max_train_samples=0).validate()


def _jsonl(path, bad_line: int, **bad):
    """A JSON Lines file of 20 good records, one of them (1-based `bad_line`) changed."""
    records = [{"text": f"text {i}", "label": ["pos", "neg"][i % 2]} for i in range(20)]
    records[bad_line - 1].update(bad)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return str(path)


@pytest.mark.parametrize("arrow_from_mb", [None, 0])  # in memory, and through Arrow
@pytest.mark.parametrize(
    "bad, message",
    [
        ({"text": ["a", "b"]}, "line 4, column 'text': expected a text, got list"),
        ({"text": {"a": 1}}, "line 4, column 'text': expected a text, got dict"),
        ({"label": {"a": 1}}, "line 4, column 'label': expected a label (a string, a number"),
        ({"label": [["a"], "b"]}, "line 4, column 'label': expected a label (a string, a number"),
    ],
)
def test_json_lists_and_objects_where_a_text_or_label_belongs_are_refused(
    tmp_path, arrow_from_mb, bad, message
):
    cfg = DataConfig(data=_jsonl(tmp_path / "d.jsonl", 4, **bad))
    if arrow_from_mb is not None:
        cfg = DataConfig(data=cfg.data, arrow_from_mb=arrow_from_mb)
    with pytest.raises(BertftError) as refused:
        load_splits(cfg, seed=0)
    assert f"d.jsonl, {message}" in str(refused.value)


@pytest.mark.parametrize("arrow_from_mb", [None, 0])
def test_json_labels_mixing_strings_and_numbers_are_refused_naming_both(tmp_path, arrow_from_mb):
    # A label 1 among "pos"/"neg" used to become a silent third class "1".
    cfg = DataConfig(data=_jsonl(tmp_path / "d.jsonl", 7, label=1))
    if arrow_from_mb is not None:
        cfg = DataConfig(data=cfg.data, arrow_from_mb=arrow_from_mb)
    with pytest.raises(
        BertftError,
        match=r"d\.jsonl, line 7, column 'label': the label 1 is a number, but line 1 has a "
        r"string \('pos'\); give labels of one kind",
    ):
        load_splits(cfg, seed=0)


def test_a_string_among_regression_targets_is_refused(tmp_path):
    path = tmp_path / "d.json"
    records = [{"text": f"text {i}", "label": i / 3} for i in range(20)]
    records[5]["label"] = "x"
    path.write_text(json.dumps(records))
    cfg = DataConfig(data=str(path), task="regression")
    with pytest.raises(BertftError, match=r"d\.json, row 6, column 'label': the label 'x' is a"):
        load_splits(cfg, seed=0)


def test_json_numbers_are_texts_as_predict_reads_them_but_a_list_is_not(tmp_path):
    examples = read_examples(_jsonl(tmp_path / "d.jsonl", 3, text=123))
    assert examples.texts[2] == "123"
    with pytest.raises(BertftError, match=r"line 3, column 'text': expected a text, got list"):
        read_examples(_jsonl(tmp_path / "d.jsonl", 3, text=[1, 2]))


@pytest.mark.parametrize("suffix, sep", [(".csv", ","), (".tsv", "\t")])
def test_ragged_csv_names_the_row_and_line_on_one_line_as_predict_does(tmp_path, suffix, sep):
    path = tmp_path / f"d{suffix}"
    rows = [f"text {i}{sep}{['pos', 'neg'][i % 2]}" for i in range(20)]
    rows[10] += f"{sep}extra"  # data row 11, line 12
    path.write_text(f"text{sep}label\n" + "\n".join(rows) + "\n")
    with pytest.raises(BertftError) as refused:
        read_examples(str(path))
    assert str(refused.value) == (
        f"{path}, row 11 (line 12): 3 fields, expected 2 as in the header (text, label)"
    )

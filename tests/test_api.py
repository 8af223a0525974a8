"""Training from Python, as in a notebook: `bertft.train(data, **settings)`, and a Classifier
that answers like `pipeline("text-classification")`."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml
from helpers import topic_frame

import bertft
from bertft import BertftError

pytestmark = pytest.mark.unit

TEXTS = ["rain and wind tonight", "the striker scored a goal", "bread and cheese soup", "sky"]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """Where in-memory data is written for the run."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "bertft" / "data"


@pytest.mark.trains
def test_train_on_a_dataframe_gives_a_classifier_that_answers_like_pipeline(
    tiny_model, tmp_path, cache, caplog
):
    from transformers import pipeline

    out = tmp_path / "run"
    result = bertft.train(
        topic_frame(120),
        model_name_or_path=str(tiny_model),  # Hugging Face's names work here too
        output_dir=str(out),
        learning_rate=5e-3,
        num_train_epochs=6,
        per_device_train_batch_size=16,
        warmup_ratio=0,
        precision="fp32",
    )
    assert result.output_dir == out
    assert result.metrics["validation"]["accuracy"] >= 0.9
    saved = yaml.safe_load((out / "train_config.yaml").read_text())
    assert saved["data"].startswith(str(cache)) and saved["data"].endswith(".parquet")
    clf = result.classifier
    pipe = pipeline("text-classification", model=str(out))
    for ours, theirs in [
        (clf(TEXTS), pipe(TEXTS)),
        (clf(TEXTS, top_k=2), pipe(TEXTS, top_k=2)),
        (clf(TEXTS, top_k=None), pipe(TEXTS, top_k=None)),
        (clf(TEXTS[0]), pipe(TEXTS[0])),
        (clf(TEXTS[0], top_k=3), pipe(TEXTS[0], top_k=3)),
    ]:
        flat_ours, flat_theirs = _flatten(ours), _flatten(theirs)
        assert [a["label"] for a in flat_ours] == [b["label"] for b in flat_theirs]
        assert [a["score"] for a in flat_ours] == pytest.approx(
            [b["score"] for b in flat_theirs], abs=1e-4
        )
        assert _shape(ours) == _shape(theirs)
    assert [a["label"] for a in clf(TEXTS[:3])] == ["weather", "sports", "food"]

    # The same frame again is the same file: the run is recognised and resumed, not refused.
    (out / "metrics.json").unlink()
    caplog.set_level("INFO", logger="bertft")
    again = bertft.train(
        topic_frame(120),
        model_id=str(tiny_model),
        output_dir=str(out),
        learning_rate=5e-3,
        epochs=6,
        per_device_train_batch_size=16,
        warmup_ratio=0,
        precision="fp32",
    )
    assert "resuming from" in caplog.text
    ours, before = again.metrics["validation"], result.metrics["validation"]
    assert (ours["accuracy"], ours["loss"]) == pytest.approx((before["accuracy"], before["loss"]))


def _flatten(answer):
    return [x for item in answer for x in (item if isinstance(item, list) else [item])]


def _shape(answer):
    return [len(item) if isinstance(item, list) else "dict" for item in answer]


def test_lists_of_dicts_datasets_and_dataset_dicts_become_the_run_s_files(cache):
    import datasets

    from bertft.api import _materialize

    rows = topic_frame(12).to_dict("records")
    (path,) = _materialize({"data": rows}).values()
    assert pd.read_parquet(path).to_dict("records") == rows
    assert _materialize({"data": topic_frame(12)})["data"] == path  # same content, same file

    names = ["food", "sports", "weather"]
    features = datasets.Features(
        {"text": datasets.Value("string"), "label": datasets.ClassLabel(names=names)}
    )
    frame = topic_frame(12)
    encoded = {"text": list(frame.text), "label": [names.index(x) for x in frame.label]}
    splits = datasets.DatasetDict(
        {
            "train": datasets.Dataset.from_dict(encoded, features=features),
            "test": datasets.Dataset.from_dict(encoded, features=features).select(range(3)),
        }
    )
    files = _materialize({"data": splits})
    assert set(files) == {"data", "test_data"}  # no validation split: one is split off
    assert list(pd.read_parquet(files["data"]).label) == list(frame.label)  # names, not ids
    assert len(pd.read_parquet(files["test_data"])) == 3


@pytest.mark.parametrize(
    "data, settings, message",
    [
        (42, {}, "data: expected a path, a pandas DataFrame, a datasets Dataset or DatasetDict"),
        ([{"text": "a", "label": "x"}, "b"], {}, "data: item 1 is str; expected a list of dicts"),
        (pd.DataFrame(), {}, "data: no rows"),
        ("x.csv", {"train_file": "y.csv"}, "data is given twice"),
        ("x.csv", {"epoch": 3}, "settings: unknown setting epoch (did you mean epochs?)"),
        ("x.csv", {"learning_rate": -1}, "learning_rate must be positive, got -1"),
        ("x.csv", {"save_strategy": "no"}, "save_strategy is set by bertft"),
        ("x.csv", {"optim": "fastest"}, "optim must be one of adamw_torch"),
    ],
)
def test_bad_data_and_settings_raise_bertft_errors_naming_the_setting(
    cache, data, settings, message
):
    with pytest.raises(BertftError) as refused:
        bertft.train(data, **settings)
    assert message in str(refused.value)


@pytest.mark.parametrize(
    "data, message",
    [
        (
            pd.DataFrame({"text": ["good a", "bad b"] * 20, "label": ["pos", 0] * 20}),
            "data: column 'label' mixes str and int (row 2: 0); give one kind",
        ),
        (
            pd.DataFrame({"text": [123, "bad b"] * 20, "label": ["pos", "neg"] * 20}),
            "data: column 'text' mixes int and str (row 2: 'bad b'); give one kind",
        ),
        (
            [{"text": "good a", "label": "pos"}, {"text": "bad b", "label": 1}] * 20,
            "data: column 'label' mixes str and int (row 2: 1); give one kind",
        ),
        (
            pd.DataFrame({"text": ["good a", "bad b"] * 20, "label": [0.5, "x"] * 20}),
            "data: column 'label' mixes float and str (row 2: 'x'); give one kind",
        ),
    ],
)
def test_in_memory_columns_mixing_kinds_raise_one_line_errors(cache, tmp_path, data, message):
    # Before: pyarrow's traceback from writing the Parquet file ("Conversion failed ...").
    with pytest.raises(BertftError) as refused:
        bertft.train(data, task="regression", output_dir=str(tmp_path / "run"), epochs=1)
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)


def test_in_memory_texts_of_numbers_are_texts_but_numbers_among_strings_are_refused(cache):
    from bertft.api import _materialize
    from bertft.data.load import read_examples

    frame = pd.DataFrame({"text": [1, 2, 3, 4], "label": ["a", "b"] * 2})
    path = _materialize({"data": frame})["data"]
    assert read_examples(path).texts == ["1", "2", "3", "4"]
    frame["text"] = [1, "two", 3, 4]
    with pytest.raises(BertftError, match=r"\(texts: convert them with str\)"):
        _materialize({"data": frame})

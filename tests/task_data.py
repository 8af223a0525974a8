"""Small constructed sets for the multi-label, regression and pair tests: each has an answer a
tiny model can learn in seconds, so the tests can ask for real scores."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pandas as pd
from helpers import FILLER, TOPICS


def _words(rng: random.Random, topic: str, low: int = 2, high: int = 4) -> list[str]:
    return rng.choices(TOPICS[topic], k=rng.randint(low, high))


def multi_label_rows(n: int = 240, seed: int = 0) -> list[dict]:
    """Texts about one or two topics, labelled with every topic they mention."""
    rng = random.Random(seed)
    names = list(TOPICS)
    rows = []
    for i in range(n):
        topics = [names[i % 3]] if i % 2 else sorted(rng.sample(names, 2))
        words = [w for t in topics for w in _words(rng, t)] + rng.choices(FILLER, k=2)
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "labels": topics})
    return rows


def write_multi_label(folder: Path, n: int = 240, seed: int = 0) -> tuple[Path, Path]:
    """The same set twice: a JSONL with list labels and a CSV with 'a|b' strings."""
    rows = multi_label_rows(n, seed)
    jsonl = folder / "tags.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    csv = folder / "tags.csv"
    pd.DataFrame(
        {"text": [r["text"] for r in rows], "labels": ["|".join(r["labels"]) for r in rows]}
    ).to_csv(csv, index=False)
    return jsonl, csv


def regression_frame(n: int = 240, seed: int = 0) -> pd.DataFrame:
    """A score: +1 per sports word, -1 per food word, weather words neutral, plus a little
    noise so the labels are not all integers."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        sports, food = rng.randint(0, 4), rng.randint(0, 4)
        words = rng.choices(TOPICS["sports"], k=sports) + rng.choices(TOPICS["food"], k=food)
        words += _words(rng, "weather", 1, 2) + rng.choices(FILLER, k=1)
        rng.shuffle(words)
        value = sports - food + rng.uniform(-0.2, 0.2)
        rows.append({"text": " ".join(words), "score": round(value, 3)})
    return pd.DataFrame(rows)


def pair_frame(n: int = 240, seed: int = 0) -> pd.DataFrame:
    """sentence1/sentence2 pairs whose label is the topic of the *second* sentence; the first
    is about another topic. A model that read only the first text would be at chance or worse."""
    rng = random.Random(seed)
    names = list(TOPICS)
    rows = []
    for i in range(n):
        second = names[i % 3]
        first = rng.choice([t for t in names if t != second])
        rows.append(
            {
                "sentence1": " ".join(_words(rng, first) + rng.choices(FILLER, k=1)),
                "sentence2": " ".join(_words(rng, second) + rng.choices(FILLER, k=1)),
                "label": second,
            }
        )
    return pd.DataFrame(rows)

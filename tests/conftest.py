"""Shared fixtures: a tiny BERT built offline and small learnable datasets.

Tests never touch the network: the hub is switched off before anything imports it.
"""

from __future__ import annotations

import json
import os
import random

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

# Three topics, each with its own words: a tiny model can learn them in a few epochs, so a
# test can ask for real accuracy rather than "it ran".
TOPICS = {
    "sports": [
        "ball",
        "goal",
        "team",
        "match",
        "score",
        "player",
        "coach",
        "league",
        "win",
        "stadium",
    ],
    "weather": ["rain", "sun", "cloud", "wind", "storm", "snow", "cold", "warm", "forecast", "sky"],
    "food": [
        "bread",
        "cheese",
        "soup",
        "pasta",
        "salad",
        "apple",
        "cake",
        "dinner",
        "cook",
        "taste",
    ],
}
FILLER = ["the", "a", "of", "and", "today", "very", "really", "some"]


def topic_frame(n: int = 240, seed: int = 0) -> pd.DataFrame:
    """`n` short texts, balanced over the three topics, columns text/label."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = list(TOPICS)[i % len(TOPICS)]
        words = rng.choices(TOPICS[label], k=rng.randint(2, 5)) + rng.choices(FILLER, k=2)
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "label": label})
    return pd.DataFrame(rows)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A 2-layer, hidden-32 BERT with a word-level vocabulary, saved like a hub model."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-bert")
    words = sorted(
        {w for ws in TOPICS.values() for w in ws}
        | set(FILLER)
        | set(["what", "is", "how", "who", "where", "when", "why", "capital", "france"])
    )
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = BertTokenizerFast(vocab=str(folder / "vocab.txt"), do_lower_case=True)
    tokenizer.save_pretrained(folder)
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    BertModel(config).save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def still_model(tiny_model, tmp_path_factory) -> Path:
    """The tiny model without dropout: otherwise ranks draw other masks than one process does."""
    folder = tmp_path_factory.mktemp("still-bert")
    for file in tiny_model.iterdir():
        (folder / file.name).write_bytes(file.read_bytes())
    config = json.loads((folder / "config.json").read_text())
    config.update(hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.fixture
def topic_csv(tmp_path) -> Path:
    path = tmp_path / "topics.csv"
    topic_frame().to_csv(path, index=False)
    return path


HOOKS = Path(__file__).parent / "hooks"


def slowed_env(**hooks: float) -> dict[str, str]:
    """The environment for a `bertft` subprocess slowed by tests/hooks/sitecustomize.py:
    step_seconds=, save_seconds= (none given: the plain environment, hub off)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    if hooks:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HOOKS), env.get("PYTHONPATH")]))
        env |= {f"BERTFT_TEST_{k.upper()}": str(v) for k, v in hooks.items()}
    return env


def tiny_train_args(model: Path, data: Path | str, out: Path, *extra: str) -> list[str]:
    """`bertft train` flags that make the tiny model learn the topics in a few seconds."""
    return [
        "train",
        "--model_id",
        str(model),
        "--data",
        str(data),
        "--output_dir",
        str(out),
        "--learning_rate",
        "5e-3",
        "--epochs",
        "4",
        "--per_device_train_batch_size",
        "16",
        "--warmup_ratio",
        "0",
        "--logging_steps",
        "5",
        "--precision",
        "fp32",
        *extra,
    ]


@pytest.fixture(scope="session")
def tiny_trained(tiny_model, tmp_path_factory) -> Path:
    """The tiny model fine-tuned on the topics (about 100% validation accuracy), shared by the
    export and serve tests, which only read it. Its data is `topics.csv` beside the run."""
    from bertft.cli import main

    root = tmp_path_factory.mktemp("tiny-trained")
    data = root / "topics.csv"
    topic_frame(240).to_csv(data, index=False)
    out = root / "run"
    assert main(tiny_train_args(tiny_model, data, out, "--epochs", "8")) == 0
    return out

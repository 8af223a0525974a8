"""Shared fixtures: a tiny BERT built offline and small learnable datasets.

Tests never touch the network: the hub is switched off before anything imports it.
"""

from __future__ import annotations

import json
import os

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
from helpers import FILLER, TOPICS, tiny_train_args, topic_frame  # noqa: E402
from task_data import write_multi_label  # noqa: E402

COSTS = {"unit", "trains", "subprocess", "serves", "real", "slow", "gpu"}


def pytest_collection_modifyitems(config, items):
    """Every test file says what its tests cost (pyproject.toml's markers), so that the quick
    loop (`make quick`) can leave the costly ones out: a file without a module-level
    `pytestmark` naming one of them is refused."""
    unmarked = set()
    for item in items:
        module = getattr(item, "module", None)
        marks = getattr(module, "pytestmark", [])
        marks = marks if isinstance(marks, list) else [marks]
        if module is not None and not COSTS & {m.name for m in marks}:
            unmarked.add(item.path.name)
    if unmarked:
        raise pytest.UsageError(
            f"{', '.join(sorted(unmarked))}: give the file a module-level pytestmark naming "
            f"its tests' cost, one of {', '.join(sorted(COSTS))} (see pyproject.toml)"
        )


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


@pytest.fixture(scope="session")
def tiny_multi_label(tiny_model, tmp_path_factory) -> tuple[Path, Path, Path]:
    """A multi-label run on list labels (JSONL, 240 texts, 15 epochs): (the run, its JSONL
    data, the same data as a CSV with 'a|b' labels beside it). Shared by the multi-label tests
    of test_tasks.py and test_predict_file.py."""
    from bertft.cli import main

    root = tmp_path_factory.mktemp("multi")
    jsonl, csv = write_multi_label(root)
    out = root / "run"
    assert main(tiny_train_args(tiny_model, jsonl, out, "--epochs", "15")) == 0
    return out, jsonl, csv

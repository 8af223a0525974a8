"""Texts -> model inputs, tokenized once and kept on disk.

The tokenized set is cached under a fingerprint of everything that shapes it (tokenizer, maximum
length, texts, labels), so a resumed run, and every process but the first on a machine under
torchrun, loads Arrow files instead of tokenizing again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
from pathlib import Path

from bertft.data import Examples
from bertft.distributed import local_main_first
from bertft.tasks import Task


def fingerprint(tokenizer, max_length: int, examples: Examples, task: Task) -> str:
    digest = hashlib.sha256()
    backend = getattr(tokenizer, "backend_tokenizer", None)
    # The fast tokenizer's full definition (vocabulary, normaliser, special tokens) in one string.
    digest.update((backend.to_str() if backend else repr(tokenizer)).encode())
    digest.update(json.dumps([max_length, task.name, list(task.names)]).encode())
    pairs = examples.pairs or [None] * len(examples)
    for text, pair, label in zip(examples.texts, pairs, task.encode(examples.labels), strict=True):
        digest.update(text.encode())
        if pair is not None:
            digest.update(b"\2" + pair.encode())
        digest.update(b"\0" + json.dumps(label).encode() + b"\1")
    return digest.hexdigest()[:16]


def encode_texts(tokenizer, texts, pairs=None, max_length: int = 512, **kwargs):
    """One text, or a pair encoded as one input ([CLS] a [SEP] b [SEP]) with the longer of the
    two cut first: the same call for training, evaluation and prediction."""
    return tokenizer(
        list(texts),
        None if pairs is None else list(pairs),
        truncation="longest_first",
        max_length=max_length,
        **kwargs,
    )


def tokenize(tokenizer, max_length: int, examples: Examples, task: Task, by_length: bool = False):
    """A `datasets.Dataset` with input_ids, attention_mask (token_type_ids), labels, length and
    position (the row's index in `examples`). `by_length` orders the rows shortest first: an
    evaluation pass then pads each batch to texts of nearly one length."""
    import datasets

    encoded = encode_texts(tokenizer, examples.texts, examples.pairs, max_length)
    columns = dict(encoded)
    columns["labels"] = task.encode(examples.labels)
    # Precomputed lengths spare the Trainer a pass over the data for length grouping.
    columns["length"] = [len(ids) for ids in encoded["input_ids"]]
    columns["position"] = list(range(len(examples)))
    dataset = datasets.Dataset.from_dict(columns)
    if not by_length:
        return dataset
    # A stable argsort rather than Dataset.sort, whose pyarrow call warns on every run.
    order = sorted(range(len(dataset)), key=columns["length"].__getitem__)
    return dataset.select(order).flatten_indices()


def tokenize_cached(
    tokenizer,
    max_length: int,
    examples: Examples,
    task: Task,
    cache_dir: Path,
    name: str,
    by_length: bool = False,
):
    """`tokenize`, loaded from `cache_dir` when the same inputs were tokenized before. The
    first process on each machine writes the cache (atomically); the others wait and read it."""
    import datasets

    if hasattr(examples, "dataset"):  # Arrow-backed (data_arrow): datasets' own map cache
        with local_main_first():
            return tokenize_arrow(tokenizer, max_length, examples, task)
    key = fingerprint(tokenizer, max_length, examples, task) + ("-sorted" if by_length else "")
    folder = cache_dir / f"{name}-{key}"
    with local_main_first():
        if not folder.is_dir():
            _write_once(tokenize(tokenizer, max_length, examples, task, by_length), folder)
            # Older fingerprints of this split are another run's; keep the folder small.
            for old in cache_dir.glob(f"{name}-*"):
                if old != folder:
                    shutil.rmtree(old, ignore_errors=True)
        return datasets.load_from_disk(str(folder))


def _write_once(dataset, folder: Path) -> None:
    """Save under a name of this process's own, then rename into place. Machines sharing a
    file system (NFS, EFS) may write the same cache at once: the first rename wins and the
    others, having written the same content, discard theirs."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = folder.with_name(f".{folder.name}.{socket.gethostname()}.{os.getpid()}.tmp")
    dataset.save_to_disk(str(tmp))
    try:
        tmp.rename(folder)
    except OSError:
        if not folder.is_dir():
            raise
        shutil.rmtree(tmp, ignore_errors=True)


def tokenize_arrow(tokenizer, max_length: int, examples, task: Task, num_proc: int | None = None):
    """`tokenize` for `data_arrow.ArrowExamples`: `datasets.map` in batches, by several
    processes when the machine has cores, written to (and on a rerun read from) datasets'
    cache beside the converted file, under a fingerprint of the rows, tokenizer and labels.
    Single-label tasks only (`reads_arrow`): a label is one class id."""
    import numpy as np

    from bertft.hardware import available_cpus

    if num_proc is None:
        cores = available_cpus()
        num_proc = min(cores, 8) if cores > 1 and len(examples) >= 20_000 else None
    uniques, inverse = np.unique(examples.labels, return_inverse=True)
    ids = np.asarray(task.encode([str(u) for u in uniques]), dtype=np.int64)[inverse]
    digest = hashlib.sha256()
    backend = getattr(tokenizer, "backend_tokenizer", None)
    digest.update((backend.to_str() if backend else repr(tokenizer)).encode())
    shape = [max_length, task.name, list(task.names), examples.dataset._fingerprint]
    digest.update(json.dumps(shape).encode())
    digest.update(ids.tobytes())

    def encode(batch, indices):
        texts = ["" if t is None else str(t) for t in batch["text"]]
        columns = dict(tokenizer(texts, truncation=True, max_length=max_length))
        columns["labels"] = ids[indices].tolist()
        columns["length"] = [len(x) for x in columns["input_ids"]]
        columns["position"] = list(indices)
        return columns

    return examples.dataset.map(
        encode,
        batched=True,
        with_indices=True,
        num_proc=num_proc,
        remove_columns=["text"],
        new_fingerprint=digest.hexdigest()[:16],
        desc="tokenizing",
    )

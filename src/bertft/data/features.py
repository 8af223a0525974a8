"""Texts -> model inputs (one row per window), tokenized once and kept on disk.

The tokenized set is cached under a fingerprint of everything that shapes it (tokenizer, window
and long-text strategy, texts, labels), so a resumed run, and every process but the first on a
machine under torchrun, loads Arrow files instead of tokenizing again.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
from pathlib import Path

from bertft.data.arrow import ArrowExamples
from bertft.data.encoding import Encoded, TextEncoder
from bertft.data.examples import Examples, ExampleSet
from bertft.tasks import Task
from bertft.training.distributed import local_main_first
from bertft.windows import CutStats


def fingerprint(
    encoder: TextEncoder, examples: Examples, task: Task, training: bool = False
) -> str:
    digest = hashlib.sha256()
    tokenizer = encoder.tokenizer
    backend = getattr(tokenizer, "backend_tokenizer", None)
    # The fast tokenizer's full definition (vocabulary, normaliser, special tokens) in one string.
    digest.update((backend.to_str() if backend else repr(tokenizer)).encode())
    # The window and strategy too: a chunked set has other rows than a truncated one.
    shape = [encoder.to_dict(), training, task.name, list(task.names)]
    digest.update(json.dumps(shape, sort_keys=True).encode())
    pairs = examples.pairs or [None] * len(examples)
    for text, pair, label in zip(examples.texts, pairs, task.encode(examples.labels), strict=True):
        digest.update(text.encode())
        if pair is not None:
            digest.update(b"\2" + pair.encode())
        digest.update(b"\0" + json.dumps(label).encode() + b"\1")
    return digest.hexdigest()[:16]


def tokenize(
    encoder: TextEncoder,
    examples: Examples,
    task: Task,
    by_length: bool = False,
    training: bool = False,
):
    """A `datasets.Dataset` with one row per window: input_ids, attention_mask
    (token_type_ids), labels (its text's), length and position (its text's index in
    `examples`, shared by the windows of one text). `by_length` orders the rows shortest first:
    an evaluation pass then pads each batch to windows of nearly one length. `training` caps
    the windows per text."""
    import datasets

    encoded = encoder.encode(examples.texts, training=training, pairs=examples.pairs)
    dataset = datasets.Dataset.from_dict(_columns(encoded, task.encode(examples.labels)))
    dataset.info.description = json.dumps(encoded.stats.as_dict())  # kept with the cache
    if not by_length:
        return dataset
    # A stable argsort rather than Dataset.sort, whose pyarrow call warns on every run.
    lengths = dataset["length"]
    order = sorted(range(len(dataset)), key=lengths.__getitem__)
    return dataset.select(order).flatten_indices()


def _columns(encoded: Encoded, labels: list, positions=None) -> dict[str, list]:
    """The model's inputs, one row per window, each with its text's label and position."""
    columns: dict = dict(encoded.features)
    columns["labels"] = [labels[i] for i in encoded.owner]
    # Precomputed lengths spare the Trainer a pass over the data for length grouping.
    columns["length"] = [len(ids) for ids in columns["input_ids"]]
    owners = encoded.owner if positions is None else [positions[i] for i in encoded.owner]
    columns["position"] = list(owners)
    return columns


def cut_stats(dataset) -> CutStats:
    """What the window cut from the texts of a set made by `tokenize`."""
    return CutStats.from_dict(json.loads(dataset.info.description or "{}"))


def tokenize_cached(
    encoder: TextEncoder,
    examples: ExampleSet,
    task: Task,
    cache_dir: Path,
    name: str,
    by_length: bool = False,
    training: bool = False,
):
    """`tokenize`, loaded from `cache_dir` when the same inputs were tokenized before. The
    first process on each machine writes the cache (atomically); the others wait and read it."""
    import datasets

    if isinstance(examples, ArrowExamples):  # texts on disk: datasets' own map cache
        with local_main_first():
            return tokenize_arrow(encoder, examples, task, training=training)
    key = fingerprint(encoder, examples, task, training) + ("-sorted" if by_length else "")
    folder = cache_dir / f"{name}-{key}"
    with local_main_first():
        if not folder.is_dir():
            _write_once(tokenize(encoder, examples, task, by_length, training), folder)
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


def tokenize_arrow(
    encoder: TextEncoder,
    examples: ArrowExamples,
    task: Task,
    num_proc: int | None = None,
    training: bool = False,
):
    """`tokenize` for `data.arrow.ArrowExamples`: `datasets.map` in batches, by several
    processes when the machine has cores, written to (and on a rerun read from) datasets'
    cache beside the converted file, under a fingerprint of the rows, encoder and labels.
    Single-label tasks only (`reads_arrow`): a label is one class id."""
    import numpy as np

    from bertft.hardware import available_cpus

    if num_proc is None:
        cores = available_cpus()
        num_proc = min(cores, 8) if cores > 1 and len(examples) >= 20_000 else None
    uniques, inverse = np.unique(examples.labels, return_inverse=True)
    ids = np.asarray(task.encode([str(u) for u in uniques]), dtype=np.int64)[inverse]
    digest = hashlib.sha256()
    backend = getattr(encoder.tokenizer, "backend_tokenizer", None)
    digest.update((backend.to_str() if backend else repr(encoder.tokenizer)).encode())
    shape = [encoder.to_dict(), training, task.name, list(task.names)]
    digest.update(json.dumps([*shape, examples.dataset._fingerprint], sort_keys=True).encode())
    digest.update(ids.tobytes())

    def encode(batch, indices):
        texts = ["" if t is None else str(t) for t in batch["text"]]
        encoded = encoder.encode(texts, training=training)
        columns = _columns(encoded, ids[indices].tolist(), indices)
        # What the window cut travels with each text's first window (the map may run in
        # several processes), as [texts, over, tokens, dropped, windows]: summed afterwards.
        windows = np.bincount(encoded.owner, minlength=len(texts)).tolist()
        cut, seen = [], set()
        for doc in encoded.owner:
            if doc in seen:
                cut.append([0] * 5)
                continue
            seen.add(doc)
            length, dropped = encoded.lengths[doc], encoded.dropped[doc]
            cut.append([1, int(length > encoder.body), length, dropped, windows[doc]])
        columns["cut"] = cut
        return columns

    dataset = examples.dataset.map(
        encode,
        batched=True,
        with_indices=True,
        num_proc=num_proc,
        remove_columns=examples.dataset.column_names,  # a text may become several rows
        new_fingerprint=digest.hexdigest()[:16],
        desc="tokenizing",
    )
    totals = np.asarray(dataset.with_format("numpy")["cut"]).sum(axis=0)
    dataset = dataset.remove_columns(["cut"])
    stats = encoder.new_stats()
    stats.texts, stats.over, stats.tokens, stats.dropped, stats.windows = map(int, totals)
    dataset.info.description = json.dumps(stats.as_dict())  # as `tokenize` keeps it
    return dataset

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

from bertft.data import Examples, LabelMap
from bertft.distributed import local_main_first
from bertft.encoding import TextEncoder
from bertft.windows import CutStats


def fingerprint(
    encoder: TextEncoder, examples: Examples, labels: LabelMap, training: bool = False
) -> str:
    digest = hashlib.sha256()
    tokenizer = encoder.tokenizer
    backend = getattr(tokenizer, "backend_tokenizer", None)
    # The fast tokenizer's full definition (vocabulary, normaliser, special tokens) in one string.
    digest.update((backend.to_str() if backend else repr(tokenizer)).encode())
    # The window and strategy too: a chunked set has other rows than a truncated one.
    shape = [encoder.to_dict(), training, list(labels.names)]
    digest.update(json.dumps(shape, sort_keys=True).encode())
    for text, label in zip(examples.texts, examples.labels, strict=True):
        digest.update(text.encode())
        digest.update(b"\0" + str(label).encode() + b"\1")
    return digest.hexdigest()[:16]


def tokenize(
    encoder: TextEncoder,
    examples: Examples,
    labels: LabelMap,
    by_length: bool = False,
    training: bool = False,
):
    """A `datasets.Dataset` with one row per window: input_ids, attention_mask
    (token_type_ids), labels (its text's), length and position (its text's index in
    `examples`, shared by the windows of one text). `by_length` orders the rows shortest first:
    an evaluation pass then pads each batch to windows of nearly one length. `training` caps
    the windows per text."""
    import datasets

    encoded = encoder.encode(examples.texts, training=training)
    columns: dict = dict(encoded.features)
    per_text = labels.encode(examples.labels)
    columns["labels"] = [per_text[i] for i in encoded.owner]
    # Precomputed lengths spare the Trainer a pass over the data for length grouping.
    columns["length"] = [len(ids) for ids in columns["input_ids"]]
    columns["position"] = list(encoded.owner)
    dataset = datasets.Dataset.from_dict(columns)
    dataset.info.description = json.dumps(encoded.stats.as_dict())  # kept with the cache
    if not by_length:
        return dataset
    # A stable argsort rather than Dataset.sort, whose pyarrow call warns on every run.
    order = sorted(range(len(dataset)), key=columns["length"].__getitem__)
    return dataset.select(order).flatten_indices()


def cut_stats(dataset) -> CutStats:
    """What the window cut from the texts of a set made by `tokenize`."""
    return CutStats.from_dict(json.loads(dataset.info.description or "{}"))


def tokenize_cached(
    encoder: TextEncoder,
    examples: Examples,
    labels: LabelMap,
    cache_dir: Path,
    name: str,
    by_length: bool = False,
    training: bool = False,
):
    """`tokenize`, loaded from `cache_dir` when the same inputs were tokenized before. The
    first process on each machine writes the cache (atomically); the others wait and read it."""
    import datasets

    key = fingerprint(encoder, examples, labels, training) + ("-sorted" if by_length else "")
    folder = cache_dir / f"{name}-{key}"
    with local_main_first():
        if not folder.is_dir():
            _write_once(tokenize(encoder, examples, labels, by_length, training), folder)
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

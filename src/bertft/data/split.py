"""Samples of a set of examples that keep each label's share."""

from __future__ import annotations

import random
from collections import Counter

from bertft.data.examples import ExampleSet


def stratified_sample(examples: ExampleSet, limit: int | None, seed: int) -> ExampleSet:
    """At most `limit` examples (seeded), each label keeping its share where the labels allow
    (a class of one text cannot be stratified: then a plain random sample); in file order."""
    if limit is None or limit >= len(examples):
        return examples
    labels = examples.labels
    # Classes are names: label lists (multi-label) and numbers (regression) are sampled plainly.
    named = labels is not None and all(isinstance(y, str) for y in labels)
    counts = Counter(labels) if named else Counter()
    if not named or min(counts.values()) < 2 or limit < len(counts):
        return examples.subset(sorted(random.Random(seed).sample(range(len(examples)), limit)))
    # sklearn takes a second to import: only where a sample is stratified (start-up time)
    from sklearn.model_selection import train_test_split

    kept, _ = train_test_split(
        list(range(len(examples))), train_size=limit, random_state=seed, stratify=labels
    )
    return examples.subset(sorted(kept))

"""Labelled texts as every stage takes them: `Examples` in memory, or (for files larger than
memory) `data.arrow.ArrowExamples`, both behind one protocol, `ExampleSet`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bertft.data.columns import Columns


class ExampleSet(Protocol):
    """What the tasks, the split and the checks use of a set of examples, wherever its texts
    are kept. `in_memory()` gives plain `Examples` (itself, for those)."""

    labels: Sequence
    origin: str
    text_column: str
    label_column: str | None
    pairs: list[str] | None
    pair_column: str | None

    @property
    def rows(self) -> Sequence[str]: ...

    def __len__(self) -> int: ...

    def subset(self, indices: Sequence[int]) -> ExampleSet: ...

    def in_memory(self) -> Examples: ...


@dataclass
class Examples:
    """Texts (and their second texts, for pairs) and (optionally) their labels, with where
    they came from. A label is a string as read, or a tuple of strings where the source held a
    list; the task turns them into its own kind (`tasks.*.parse`)."""

    texts: list[str]
    labels: list | None
    origin: str  # "data.csv", "bundled dataset 'trec'", ... for messages
    rows: list[str]  # how to name each example in a message: "row 7 (line 8)", "line 3", ...
    text_column: str = "text"  # the source's own column name, for messages
    label_column: str | None = None
    pairs: list[str] | None = None  # the second text of each pair
    pair_column: str | None = None

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, indices: Sequence[int]) -> Examples:
        return Examples(
            texts=[self.texts[i] for i in indices],
            labels=None if self.labels is None else [self.labels[i] for i in indices],
            origin=self.origin,
            rows=[self.rows[i] for i in indices],
            text_column=self.text_column,
            label_column=self.label_column,
            pairs=None if self.pairs is None else [self.pairs[i] for i in indices],
            pair_column=self.pair_column,
        )

    def in_memory(self) -> Examples:
        return self


def columns_record(examples: ExampleSet) -> dict[str, str | None]:
    """What a model keeps under `columns.COLUMNS_KEY`: its training data's text, second-text
    and label columns, so that predict and evaluate find them in files shaped like the training
    file."""
    return Columns(examples.text_column, examples.pair_column, examples.label_column).as_record()

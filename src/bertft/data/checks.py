"""The checks every labelled source passes, chunk by chunk, in memory or through Arrow.

A text or label of the wrong kind, a missing label and labels of two kinds are refused with the
file, row and column; empty texts (or pairs missing a text) are skipped with a count, or refused
under --strict.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from bertft.data.cells import label_cell, label_kind, text_cell
from bertft.data.columns import Columns
from bertft.data.formats import Chunk
from bertft.errors import BertftError

log = logging.getLogger(__name__)


@dataclass
class Checked:
    """The examples of one chunk that have a text: their positions in the chunk, texts, second
    texts (pairs) and labels."""

    kept: list[int]
    texts: list[str]
    pairs: list[str] | None
    labels: list | None


@dataclass
class EmptyTexts:
    """How many texts were empty, and the first one's row."""

    count: int = 0
    first: str | None = None

    def add(self, row: str) -> None:
        self.count += 1
        self.first = self.first or row

    def report(self, origin: str, column: str, strict: bool) -> None:
        if self.count and strict:
            raise BertftError(
                f"{origin}, {self.first}, column '{column}': empty text ({self.count} empty in "
                f"all; drop --strict to skip them)"
            )
        if self.count:
            log.warning(
                "bertft: skipped %d empty text(s) in %s (first: %s); strict refuses them",
                self.count,
                origin,
                self.first,
            )


@dataclass
class Checker:
    """Checks the chunks of one source read with `columns` (the label column None: no labels)."""

    origin: str
    columns: Columns
    empty: EmptyTexts = field(default_factory=EmptyTexts)
    kinds: dict[str, tuple[Any, str]] = field(default_factory=dict)  # kind -> first (value, row)

    def check(self, chunk: Chunk) -> Checked:
        text_col, pair_col, label_col = (
            self.columns.text,
            self.columns.text_pair,
            self.columns.label,
        )
        assert text_col is not None
        kept: list[int] = []
        texts: list[str] = []
        pairs: list[str] | None = [] if pair_col else None
        labels: list | None = [] if label_col else None
        for i, (record, row) in enumerate(zip(chunk.records, chunk.rows, strict=True)):
            text = text_cell(record, text_col, self.origin, row)
            pair = text_cell(record, pair_col, self.origin, row) if pair_col else None
            if label_col is not None:
                label = self._label(record, label_col, row)
            if not text.strip() or (pair is not None and not pair.strip()):
                self.empty.add(row)  # a pair missing its second text is as empty
                continue
            kept.append(i)
            texts.append(text)
            if pairs is not None:
                pairs.append(pair)
            if labels is not None:
                labels.append(label)
        return Checked(kept, texts, pairs, labels)

    def _label(self, record: dict[str, Any], column: str, row: str):
        label = label_cell(record, column, self.origin, row)
        value = record[column]
        kind = label_kind(value)
        if kind is not None and kind not in self.kinds:
            # Labels of two kinds are refused: `1` among "pos"/"neg" would silently become a
            # third class "1", and under regression a string among numbers is a typo.
            if self.kinds:
                ((kind_a, (value_a, row_a)),) = self.kinds.items()
                raise BertftError(
                    f"{self.origin}, {row}, column '{column}': the label {value!r} is a "
                    f"{kind}, but {row_a} has a {kind_a} ({value_a!r}); give labels of one kind"
                )
            self.kinds[kind] = (value, row)
        if isinstance(label, str) and not label.strip():
            raise BertftError(f"{self.origin}, {row}, column '{column}': missing label")
        return label

    def finish(self, strict: bool, kept: int) -> None:
        """After the last chunk: the empty texts reported (or refused), and no texts refused."""
        self.empty.report(self.origin, self.columns.text or "text", strict)
        if not kept:
            raise BertftError(f"{self.origin}: no texts")

"""`--drop_label_issues FILE`: train without the rows an audit flagged and the user confirmed
(`bertft audit`'s label_issues.csv, or any CSV with its `row` and `text` columns)."""

from __future__ import annotations

import csv
from pathlib import Path

from bertft.data.examples import Examples
from bertft.errors import BertftError


def listed_rows(path: Path, examples: Examples) -> list[int]:
    """The 0-based rows `path` lists, each checked to hold the text it names in `examples`:
    a file audited before the data changed is refused rather than dropping other rows."""
    if not path.is_file():
        raise BertftError(f"--drop_label_issues {path}: no such file")
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = {"row", "text"} - set(reader.fieldnames or [])
        if missing:
            raise BertftError(
                f"{path}: expected the columns row and text of bertft audit's label_issues.csv, "
                f"missing {', '.join(sorted(missing))}"
            )
        rows = []
        for line, record in enumerate(reader, start=2):
            rows.append(_checked(path, line, record, examples))
    return sorted(set(rows))


def _checked(path: Path, line: int, record: dict, examples: Examples) -> int:
    try:
        row = int(record["row"])
    except ValueError:
        raise BertftError(f"{path}, line {line}: row '{record['row']}' is not a number") from None
    if not 0 <= row < len(examples):
        raise BertftError(
            f"{path}, line {line}: row {row} is past the {len(examples):,} rows of "
            f"{examples.origin}"
        )
    if examples.texts[row] != record["text"]:
        raise BertftError(
            f"{path}, line {line}: row {row} of {examples.origin} holds another text than the "
            f"one listed: the data changed since the audit; audit it again"
        )
    return row


def drop_rows(examples: Examples, path: Path) -> tuple[Examples, int]:
    """`examples` without the rows `path` lists, and how many went."""
    gone = set(listed_rows(path, examples))
    kept = [i for i in range(len(examples)) if i not in gone]
    return examples.subset(kept), len(gone)

"""Ranking the labels that look wrong, by confident learning on out-of-fold scores (cleanlab's
`find_label_issues`, not rewritten here), and the file and summary a user reads."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from bertft.data.examples import Examples
from bertft.files import replacing
from bertft.tasks import Task

ISSUES_FILE = "label_issues.csv"


def find_issues(task: Task, labels: list, scores: np.ndarray) -> list[dict[str, Any]]:
    """The rows whose given label the scores contradict, most likely wrong first: each with
    its index, the given and suggested labels and the label quality score (0..1, low = likely
    wrong)."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    if task.name == "multi_label":
        return _multi_label(task, labels, scores)
    given = np.asarray(task.encode(labels))
    ranked = find_label_issues(given, scores, return_indices_ranked_by="self_confidence")
    quality = get_label_quality_scores(given, scores)
    return [
        {
            "index": int(i),
            "given": task.names[given[i]],
            "suggested": task.names[int(scores[i].argmax())],
            "quality": float(quality[i]),
            "given_score": float(scores[i, given[i]]),
            "suggested_score": float(scores[i].max()),
        }
        for i in ranked
    ]


def _multi_label(task: Task, labels: list, scores: np.ndarray) -> list[dict[str, Any]]:
    """Multi-label: cleanlab's multi-label confident learning; the suggestion is every label
    the out-of-fold model gives 0.5 or more."""
    from cleanlab.filter import find_label_issues
    from cleanlab.multilabel_classification.rank import get_label_quality_scores

    where = {name: j for j, name in enumerate(task.names)}
    given = [[where[n] for n in label] for label in labels]
    ranked = find_label_issues(
        given, scores, multi_label=True, return_indices_ranked_by="self_confidence"
    )
    quality = get_label_quality_scores(given, scores)
    rows = []
    for i in ranked:
        suggested = [task.names[j] for j in np.flatnonzero(scores[i] >= 0.5)]
        rows.append({"index": int(i), "given": "|".join(labels[i]),
                     "suggested": "|".join(suggested), "quality": float(quality[i])})  # fmt: skip
    return rows


def write_issues(path: Path, examples: Examples, issues: list[dict[str, Any]]) -> Path:
    """label_issues.csv: rank, row (0-based, in the data as read), where (as messages name it),
    the text (and its pair), the given and suggested labels and the scores."""
    columns = ["rank", "row", "where", "text", *(["text_pair"] if examples.pairs else []),
               "given_label", "suggested_label", "label_quality", "given_score",
               "suggested_score"]  # fmt: skip
    with replacing(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for rank, issue in enumerate(issues, start=1):
            i = issue["index"]
            pair = [examples.pairs[i]] if examples.pairs else []
            scores = [issue.get(k) for k in ("quality", "given_score", "suggested_score")]
            writer.writerow([rank, i, examples.rows[i], examples.texts[i], *pair, issue["given"],
                             issue["suggested"], *map(_four, scores)])  # fmt: skip
    return path


def _four(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def class_pairs(issues: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    """(given, suggested, how many) of the flagged rows, most frequent first."""
    found = Counter((issue["given"], issue["suggested"]) for issue in issues)
    return [(given, suggested, n) for (given, suggested), n in found.most_common()]


def summary(issues: list[dict[str, Any]], total: int, path: Path, shown: int = 20) -> str:
    """ "41 of 5,452 labels look wrong (0.8%); the 20 most likely are rows 17, 230, ..."."""
    if not issues:
        return f"none of the {total:,} labels looks wrong to the out-of-fold models"
    rows = ", ".join(str(issue["index"]) for issue in issues[:shown])
    most = f"the {min(shown, len(issues))} most likely" if len(issues) > 1 else "it"
    return (
        f"{len(issues):,} of {total:,} labels look wrong ({len(issues) / total:.1%}); "
        f"{most}: rows {rows} (all in {path}, most likely first)"
    )

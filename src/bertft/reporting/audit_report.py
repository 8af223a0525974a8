"""The audit's `report.html`: how many labels look wrong, between which classes, and the
suspects themselves, most likely first (the same self-contained page style as training's)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bertft.data.examples import Examples
from bertft.files import write_text
from bertft.reporting.report import MAX_TEXT_CHARS, _e, _table, html_page

SHOWN = 50  # suspects listed on the page; label_issues.csv has them all


def write_audit_report(
    out: Path, record: dict[str, Any], examples: Examples, issues: list[dict[str, Any]]
) -> Path:
    counts = _table(
        [(f"{given} → {suggested}", n) for given, suggested, n in record["class_pairs"]],
        head=("given → suggested", "rows"),
    )
    rows = [("data", record["data"]), ("task", record["task"]), ("rows", f"{record['rows']:,}"),
            ("folds", record["folds"]), ("flagged", f"{record['flagged']:,}"),
            ("time", f"{record['seconds']:.0f} s")]  # fmt: skip
    if record.get("out_of_fold_accuracy") is not None:
        rows.append(("out-of-fold accuracy", f"{record['out_of_fold_accuracy']:.4f}"))
    sections = [
        f"<header><h1>bertft audit: {_e(out.name)}</h1><p>{_e(record['summary'])}.</p></header>",
        f"<section><h2>Run</h2>{_table(rows)}</section>",
        f"<section><h2>Between which labels</h2>{counts}</section>" if issues else "",
        f"<section><h2>Most likely wrong</h2>{_suspects(examples, issues)}</section>",
    ]
    return write_text(out / "report.html", html_page(f"bertft audit: {out.name}", sections))


def _suspects(examples: Examples, issues: list[dict[str, Any]]) -> str:
    if not issues:
        return "<p>None.</p>"
    head = "<tr><th>rank</th><th>row</th><th>text</th><th>given</th><th>suggested</th>"
    head += "<th>label quality</th></tr>"
    body = []
    for rank, issue in enumerate(issues[:SHOWN], start=1):
        i = issue["index"]
        text = examples.texts[i][:MAX_TEXT_CHARS]
        body.append(
            f"<tr><td>{rank}</td><td>{i}</td><td class='text'>{_e(text)}</td>"
            f"<td class='wrong'>{_e(issue['given'])}</td><td>{_e(issue['suggested'])}</td>"
            f"<td>{issue['quality']:.3f}</td></tr>"
        )
    more = f"<p class='note'>{len(issues) - SHOWN:,} more in label_issues.csv.</p>"
    tail = more if len(issues) > SHOWN else ""
    return f"<table class='grid mistakes'>{head}{''.join(body)}</table>{tail}"

"""Does a 0.9 mean right nine times in ten? Expected calibration error before and after bertft's
temperature, on test texts the temperature was not fitted on; coverage of regression intervals.

Each run is one default `bertft train` (calibration on) in a fresh process, seeded. The test
texts: `trec_test` for `trec`; for a set without a bundled test part, a fixed fifth of its rows
(seed 0, stratified by label) is written aside and never trained or validated on. Both ECEs
come from the same trained model (the scores before the temperature are recovered exactly from
the calibrated ones, `bertft.calibration.uncalibrated_softmax`), so a row is a paired
comparison. Each finished run appends one line to bench/results/calibration.jsonl; a run
already there is skipped.

    python bench/calibration.py --datasets trec sms_spam rotten_tomatoes --seeds 1 2 3
    python bench/calibration.py --datasets vader_movies --seeds 1
    python bench/calibration.py --table
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

from bertft.data.bundled import BUNDLED, load_bundled

RESULTS = Path(__file__).parent / "results" / "calibration.jsonl"
TEST_SHARE = 0.2


def write_parts(dataset: str, folder: Path) -> tuple[str, str]:
    """The training data and the test data of `dataset`: bundled names where it has a test
    set, else two CSVs of its rows, a stratified fifth of them for test."""
    if f"{dataset}_test" in BUNDLED:
        return dataset, f"{dataset}_test"
    texts, labels = load_bundled(dataset)[:2]
    by_label: dict[object, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        by_label[label if isinstance(label, str) else "all"].append(i)
    rng, test = random.Random(0), set()
    for rows in by_label.values():
        test.update(rng.sample(rows, round(len(rows) * TEST_SHARE)))
    paths = []
    for name, keep in (("train", lambda i: i not in test), ("test", lambda i: i in test)):
        path = folder / f"{dataset}_{name}.csv"
        with path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label"])
            writer.writerows((texts[i], labels[i]) for i in range(len(texts)) if keep(i))
        paths.append(str(path))
    return paths[0], paths[1]


def run_one(dataset: str, seed: int, model: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="bertft-cal-") as tmp:
        train, test = write_parts(dataset, Path(tmp))
        out = Path(tmp) / "run"
        cmd = [sys.executable, "-m", "bertft", "train", "--model_id", model, "--data", train,
               "--test_data", test, "--output_dir", str(out), "--seed", str(seed)]  # fmt: skip
        started = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr[-3000:]}")
        metrics = json.loads((out / "metrics.json").read_text())
    fields = ("method", "temperature", "temperatures", "texts", "ece", "ece_uncalibrated",
              "coverage", "half_width", "covered")  # fmt: skip

    def kept(report: dict) -> dict:
        return {k: v for k, v in report["calibration"].items() if k in fields}

    return {
        "dataset": dataset,
        "model": model,
        "seed": seed,
        "task": metrics["task"],
        "validation": kept(metrics["validation"]),
        "test": kept(metrics["test"]),
        "test_texts": metrics["test"]["samples"],
        "train_texts": metrics["train"]["samples"],
        "process_seconds": round(time.perf_counter() - started, 1),
        "hardware": metrics["hardware"],
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def load() -> list[dict]:
    if not RESULTS.exists():
        return []
    return [json.loads(line) for line in RESULTS.read_text().splitlines() if line.strip()]


def _ms(values: list[float], digits: int = 4) -> str:
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def table(rows: list[dict]) -> str:
    """Mean ± sample standard deviation over seeds, per set."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        groups[(row["dataset"], row["model"])].append(row)
    lines = [
        "| set | model | seeds | test texts | test ECE before | test ECE after | ratio | "
        "temperature | validation ECE before → after |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    intervals = []
    for (dataset, model), runs in sorted(groups.items()):
        if runs[0]["task"] == "regression":
            intervals.append((dataset, model, runs))
            continue
        before = [r["test"]["ece_uncalibrated"] for r in runs]
        after = [r["test"]["ece"] for r in runs]
        ratio = [a / b for a, b in zip(after, before, strict=True)]
        t = [r["validation"].get("temperature") or 0.0 for r in runs]
        val = [(r["validation"]["ece_uncalibrated"], r["validation"]["ece"]) for r in runs]
        lines.append(
            f"| {dataset} | {model} | {len(runs)} | {runs[0]['test_texts']:,} | {_ms(before)} | "
            f"{_ms(after)} | {_ms(ratio, 2)} | {_ms(t, 2)} | "
            f"{_ms([v[0] for v in val])} → {_ms([v[1] for v in val])} |"
        )
    for dataset, model, runs in intervals:
        covered = [r["test"]["covered"] for r in runs]
        level = runs[0]["validation"]["coverage"]
        half = [r["validation"]["half_width"] for r in runs]
        lines.append(
            f"\n{dataset} ({model}, {len(runs)} seed(s)): {level:.0%} intervals of ±{_ms(half, 3)} "
            f"held {_ms([100 * c for c in covered], 1)}% of {runs[0]['test_texts']:,} test values"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["trec"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--table", action="store_true", help="print the table and exit")
    args = parser.parse_args()
    if args.table:
        print(table(load()))
        return
    done = {(r["dataset"], r["model"], r["seed"]) for r in load()}
    for dataset in args.datasets:
        for seed in args.seeds:
            if (dataset, args.model, seed) in done:
                continue
            row = run_one(dataset, seed, args.model)
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            with RESULTS.open("a") as f:
                f.write(json.dumps(row) + "\n")
            test = row["test"]
            print(dataset, seed, {k: test.get(k) for k in ("ece_uncalibrated", "ece", "covered")},
                  f"{row['process_seconds']} s", flush=True)  # fmt: skip
    print(table(load()))


if __name__ == "__main__":
    main()

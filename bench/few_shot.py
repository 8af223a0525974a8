"""Few labelled texts: bertft's default against SetFit 1.2 on the same body and the same texts.

For each bundled set, size (texts a class) and draw, the training texts are drawn at random
(seeded) per class and 1,000 of the texts not drawn are the test set. Methods:
  bertft    what a user gets with no flags (`bertft train --data train.csv`)
  standard  bertft's large-data recipe on the same texts (`--recipe standard`)
  setfit    SetFit 1.2 (bench/competitors/setfit_few_shot.py) in its own environment
  bertft+--flag+value   a variant of the default (e.g. bertft+--max_steps+250)
Rows go to bench/results/few_shot.jsonl; `--table` prints mean ± sample standard deviation.
Setup for SetFit (its own venv, so bertft's dependencies stay as they are):
    python3 -m venv .venv-setfit && .venv-setfit/bin/pip install torch==2.13.0 'setfit==1.2.*'

    python bench/few_shot.py --datasets trec sms_spam --sizes 8 64 --draws 1 2 3 \\
        --methods bertft setfit --setfit_python .venv-setfit/bin/python
    python bench/few_shot.py --table
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
from pathlib import Path

from machine import describe

from bertft.bundled_models import bundled_model_path
from bertft.data.bundled import load_bundled

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "few_shot.jsonl"
TEST_SIZE = 1000


def draw(dataset: str, per_class: int, seed: int) -> tuple[list, list]:
    """(train rows, test rows) of (text, label): `per_class` texts of each class, and
    TEST_SIZE of the others, both seeded."""
    texts, labels = load_bundled(dataset)[:2]
    rng = random.Random(seed)
    by_class: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(label, []).append(i)
    train = [i for c in sorted(by_class) for i in rng.sample(by_class[c], per_class)]
    rest = sorted(set(range(len(texts))) - set(train))
    rng.shuffle(rest)
    return [(texts[i], labels[i]) for i in train], [(texts[i], labels[i]) for i in rest[:TEST_SIZE]]


def write(rows: list, path: Path) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


def run_bertft(train: Path, test: Path, out: Path, seed: int, extra: list[str]) -> dict:
    command = [sys.executable, "-m", "bertft", "train", "--data", str(train), "--test_data",
               str(test), "--output_dir", str(out), "--seed", str(seed), *extra]  # fmt: skip
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    metrics = json.loads((out / "metrics.json").read_text())
    return {
        "accuracy": metrics["test"]["accuracy"],
        "f1_macro": metrics["test"]["f1_macro"],
        "train_seconds": metrics["train"]["wall_seconds"],
        "process_seconds": round(time.perf_counter() - started, 1),
        "recipe": metrics["recipe"]["name"],
        "not_learnt": metrics.get("not_learnt"),
    }


def run_setfit(python: str, train: Path, test: Path, seed: int) -> dict:
    script = HERE / "competitors" / "setfit_few_shot.py"
    model = str(bundled_model_path("minilm"))
    done = subprocess.run(
        [python, str(script), model, str(train), str(test), str(seed)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(done.stdout.strip().splitlines()[-1])


def _flags(method: str) -> list[str]:
    """bertft's flags for a method: `bertft`, `standard`, or `bertft+--flag+value...` (a
    variant measured against the default, e.g. `bertft+--max_steps+250`)."""
    if method == "standard":
        return ["--recipe", "standard"]
    return method.split("+")[1:]


def load() -> list[dict]:
    if not RESULTS.exists():
        return []
    return [json.loads(line) for line in RESULTS.read_text().splitlines() if line.strip()]


def table() -> None:
    groups: dict[tuple, list[dict]] = {}
    for row in load():
        groups.setdefault((row["dataset"], row["per_class"], row["method"]), []).append(row)
    print("| set | texts a class | method | draws | accuracy | macro F1 | train s |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: |")
    for (dataset, size, method), rows in sorted(groups.items()):
        print(
            f"| {dataset} | {size} | {method} | {len(rows)} | {_spread(rows, 'accuracy')} | "
            f"{_spread(rows, 'f1_macro')} | {_mean(rows, 'train_seconds'):.0f} |"
        )


def _mean(rows: list[dict], key: str) -> float:
    return statistics.mean(r[key] for r in rows)


def _spread(rows: list[dict], key: str) -> str:
    values = [r[key] for r in rows]
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.3f} ± {sd:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["trec", "sms_spam"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[8])
    parser.add_argument("--draws", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument("--methods", nargs="+", default=["bertft", "setfit"])
    parser.add_argument("--setfit_python", default=".venv-setfit/bin/python")
    parser.add_argument("--table", action="store_true")
    args = parser.parse_args()
    if args.table:
        return table()
    done = {(r["dataset"], r["per_class"], r["draw"], r["method"]) for r in load()}
    machine = describe()
    for dataset in args.datasets:
        for size in args.sizes:
            for seed in args.draws:
                train_rows, test_rows = draw(dataset, size, seed)
                with tempfile.TemporaryDirectory() as tmp:
                    train = write(train_rows, Path(tmp) / "train.csv")
                    test = write(test_rows, Path(tmp) / "test.csv")
                    for method in args.methods:
                        if (dataset, size, seed, method) in done:
                            continue
                        if method == "setfit":
                            result = run_setfit(args.setfit_python, train, test, seed)
                        else:
                            extra = _flags(method)
                            result = run_bertft(train, test, Path(tmp) / method, seed, extra)
                        row = {"dataset": dataset, "per_class": size, "draw": seed,
                               "method": method, **result, "machine": machine}  # fmt: skip
                        print(json.dumps(row), flush=True)
                        with RESULTS.open("a") as f:
                            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()

"""A mean-pooled head against the default [CLS] pooler, on the same seeds as bench/accuracy.py.

all-MiniLM-L6-v2 was trained to be read by averaging its token vectors, not through [CLS] and
its pooler, which is what `BertForSequenceClassification` (and so plain `transformers`) uses.
This runs the default recipe with the pooler replaced by a masked mean
(bench/hooks/mean_pooling/sitecustomize.py) and appends the rows, recipe `mean_pooled_head`, to
bench/results/accuracy_minilm.jsonl, where `python bench/accuracy.py --table` pairs them with the
default by seed.

    python bench/mean_pooled_head.py --seeds 1 2 3
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import accuracy

HOOK = Path(__file__).resolve().parent / "hooks" / "mean_pooling"
RECIPE = "mean_pooled_head"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["trec"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    args = parser.parse_args()
    # The training processes bench/accuracy.py starts inherit the environment.
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(HOOK), os.environ.get("PYTHONPATH")])
    )
    done = {(r["dataset"], r["recipe"], r["seed"]) for r in accuracy.load("minilm")}
    for dataset in args.datasets:
        for seed in args.seeds:
            if (dataset, RECIPE, seed) in done:
                continue
            row = accuracy.run_one("minilm", dataset, "old", seed, [])
            row |= {"recipe": RECIPE, "hook": "bench/hooks/mean_pooling"}
            accuracy.record("minilm", row)
    print(accuracy.table(accuracy.load("minilm")))


if __name__ == "__main__":
    main()

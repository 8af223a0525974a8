"""Accuracy of training recipes over seeds: recipes x seeds x datasets, one `bertft train` each.

Every run is a fresh `python -m bertft train` process with the recipe's flags given explicitly (so a
change of defaults never changes what a recipe means). Each finished run appends one JSON line to
bench/results/accuracy_<model>.jsonl; a run already there is skipped, so an interrupted study
continues where it stopped. `--table` prints mean ± spread (sample standard deviation) per recipe.
Where a bundled test set belongs to the dataset (`trec_test` for `trec`), each trained model is
also evaluated on it (`bertft evaluate`), and the row keeps those scores beside validation's.

    python bench/accuracy.py --model minilm --datasets trec \
        --recipes old ls0.1 --seeds 1 2 3
    python bench/accuracy.py --model minilm --table
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from bertft.data.bundled import BUNDLED

RESULTS = Path(__file__).parent / "results"

# The two numbers each task's table line shows (the names bertft's metrics.json uses).
HEADLINE = {
    "single_label": ("accuracy", "f1_macro"),
    "multi_label": ("f1_micro", "subset_accuracy"),
    "regression": ("pearson", "rmse"),
}

# The default before issue #15, flag by flag; every recipe below is it with some changes.
OLD = {"--learning_rate": "1e-4", "--epochs": "3", "--per_device_train_batch_size": "32",
       "--warmup_ratio": "0.1"}  # fmt: skip


def changed(*switches: str, **values: str) -> list[str]:
    """OLD's flags with `values` (learning_rate="2e-4" for --learning_rate) and `switches`."""
    flags = OLD | {f"--{name}": value for name, value in values.items()}
    return [item for pair in flags.items() for item in pair] + list(switches)


# name -> train flags, each a fresh run with every flag explicit.
RECIPES: dict[str, list[str]] = {
    "old": changed(),
    "lr2e-4": changed(learning_rate="2e-4"),
    "e5": changed(epochs="5"),
    "e5_lr2e-4": changed(learning_rate="2e-4", epochs="5"),
    "b64_e6_lr2e-4": changed(learning_rate="2e-4", epochs="6", per_device_train_batch_size="64"),
    "e8_lr2e-4": changed(learning_rate="2e-4", epochs="8"),
    "lr5e-5": changed(learning_rate="5e-5"),
    # More optimizer steps from the same data: half the batch.
    "b16": changed(per_device_train_batch_size="16"),
    "b16_e4": changed(epochs="4", per_device_train_batch_size="16"),
    # Layer-wise learning-rate decay: the head at 2e-4, each layer below at 0.8 times the next.
    "b16_lr2e-4_lld0.8": changed(
        "--layerwise_lr_decay", "0.8", learning_rate="2e-4", per_device_train_batch_size="16"
    ),
    "wu0.06": changed(warmup_ratio="0.06"),
    "wu0.2": changed(warmup_ratio="0.2"),
    "wd0": changed("--weight_decay", "0"),
    "cosine": changed("--lr_scheduler_type", "cosine"),  # passed through to the Trainer
    "ls0.1": changed("--label_smoothing_factor", "0.1"),  # passed through too
    "pooler": changed("--reinit_pooler"),
    "e5_pooler": changed("--reinit_pooler", epochs="5"),
    "freeze": changed("--freeze_embeddings"),
    "fp32": changed("--precision", "fp32"),  # bf16 autocast is the default on this CPU
    # MPNet (109M parameters): the learning rate usual for base-size encoders.
    "mpnet_e1": changed(learning_rate="3e-5", epochs="1"),
    "mpnet_e3": changed(learning_rate="5e-5"),
}


def run_one(model: str, dataset: str, recipe: str, seed: int, extra: list[str]) -> dict:
    """Train once in a fresh process; the metrics bertft wrote, reduced to what the table needs."""
    with tempfile.TemporaryDirectory(prefix="bertft-acc-") as tmp:
        out = Path(tmp) / "run"
        cmd = [sys.executable, "-m", "bertft", "train", "--model_id", model, "--data", dataset,
               "--output_dir", str(out), "--seed", str(seed), *RECIPES[recipe], *extra]  # fmt: skip
        started = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr[-3000:]}")
        metrics = json.loads((out / "metrics.json").read_text())
        tested = evaluate_on_test(out, dataset)
        shutil.rmtree(out, ignore_errors=True)
    task = metrics.get("task", "single_label")
    names = HEADLINE[task]
    test = {"test_scores": {n: tested[n] for n in names}, "test_texts": tested["samples"]}
    per_epoch = [
        round(e[f"eval_{names[0]}"], 4) for e in metrics["history"] if f"eval_{names[0]}" in e
    ]
    return {
        "model": model,
        "dataset": dataset,
        "recipe": recipe,
        "flags": RECIPES[recipe] + extra,
        "seed": seed,
        "task": task,
        "scores": {name: metrics["validation"][name] for name in names},
        **(test if tested else {}),
        "validation_texts": metrics["data"]["samples"]["validation"],
        "train_texts": metrics["train"]["samples"],
        f"eval_{names[0]}_per_epoch": per_epoch,
        "train_seconds": metrics["train"]["wall_seconds"],
        "process_seconds": round(wall, 1),
        "precision": metrics["precision"],
        "hardware": metrics["hardware"],
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def test_set(dataset: str) -> str | None:
    """The bundled test set that goes with `dataset`, if there is one."""
    return f"{dataset}_test" if f"{dataset}_test" in BUNDLED else None


def evaluate_on_test(model: Path, dataset: str) -> dict | None:
    """`bertft evaluate` of a trained model on the dataset's bundled test set: its metrics."""
    test = test_set(dataset)
    if test is None:
        return None
    out = model / "test"
    cmd = [sys.executable, "-m", "bertft", "evaluate", "--model", str(model), "--data", test,
           "--output_dir", str(out)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr[-3000:]}")
    return json.loads((out / "metrics.json").read_text())


def results_file(model: str) -> Path:
    return RESULTS / f"accuracy_{Path(model).name}.jsonl"


def record(model: str, row: dict) -> None:
    """Append one finished run to the model's results and say it on the terminal."""
    with results_file(model).open("a") as f:
        f.write(json.dumps(row) + "\n")
    scores = ", ".join(f"{k} {v:.4f}" for k, v in row["scores"].items())
    print(f"{row['dataset']} {row['recipe']} seed {row['seed']}: {scores}, "
          f"{row['train_seconds']:.0f} s", flush=True)  # fmt: skip


def load(model: str) -> list[dict]:
    path = results_file(model)
    if not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    # A run done again (to add its test scores) replaces the earlier one.
    latest = {(r["dataset"], r["recipe"], r["seed"]): r for r in rows}
    return list(latest.values())


def finished(row: dict) -> bool:
    """Recorded with everything a run now gives: test scores where the dataset has a test set."""
    return "test_scores" in row or test_set(row["dataset"]) is None


def table(rows: list[dict], baseline: str = "old") -> str:
    """Markdown: one line per (dataset, recipe), mean ± sample standard deviation over seeds,
    and the difference to `baseline` paired by seed. The seed draws the validation split, which
    moves accuracy more than most recipes do; the same seed's two runs share their split, so
    their difference shows the recipe's own effect."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["dataset"], r["recipe"]), []).append(r)
    lines = [
        f"| dataset | recipe | seeds | metric | metric | vs {baseline}, paired | train time (s) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for (dataset, recipe), rs in sorted(groups.items()):
        names = list(rs[0]["scores"])
        cells = [f"{name} {_mean_spread([r['scores'][name] for r in rs])}" for name in names]
        if all("test_scores" in r for r in rs):
            tested = [r["test_scores"][names[0]] for r in rs]
            cells[-1] += f"; test {names[0]} {_mean_spread(tested)}"
        base = {r["seed"]: r for r in groups.get((dataset, baseline), [])}
        paired = [r["scores"][names[0]] - base[r["seed"]]["scores"][names[0]]
                  for r in rs if r["seed"] in base]  # fmt: skip
        delta = f"{_mean_spread(paired, signed=True)} ({len(paired)})" if paired else ""
        lines.append(
            f"| {dataset} | {recipe} | {len(rs)} | {' | '.join(cells)} | "
            f"{delta if recipe != baseline else ''} | "
            f"{statistics.mean(r['train_seconds'] for r in rs):.0f} |"
        )
    return "\n".join(lines)


def _mean_spread(values: list[float], signed: bool = False) -> str:
    form = "+.4f" if signed else ".4f"
    if len(values) == 1:
        return f"{values[0]:{form}}"
    return f"{statistics.mean(values):{form}} ± {statistics.stdev(values):.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--datasets", nargs="+", default=["trec"])
    parser.add_argument("--recipes", nargs="+", default=["old"], choices=sorted(RECIPES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    parser.add_argument(
        "--extra",
        nargs=argparse.REMAINDER,
        default=[],
        help="more train flags for every run (e.g. --max_train_samples 500)",
    )
    parser.add_argument("--table", action="store_true", help="print the table and exit")
    args = parser.parse_args()
    if args.table:
        print(table(load(args.model)))
        return
    RESULTS.mkdir(exist_ok=True)
    done = {(r["dataset"], r["recipe"], r["seed"]) for r in load(args.model) if finished(r)}
    for dataset in args.datasets:
        for recipe in args.recipes:
            for seed in args.seeds:
                if (dataset, recipe, seed) in done:
                    continue
                row = run_one(args.model, dataset, recipe, seed, args.extra)
                record(args.model, row)
    print(table(load(args.model)))


if __name__ == "__main__":
    main()

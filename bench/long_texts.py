"""Long texts, side by side: `bertft train` with --long_texts truncate, head_tail and chunk on the
same data, split, seed and window, each in a fresh process, one after the other.

Validation metrics are per document (chunk pools its windows' logits). Each finished run is
written to the results file at once, so a long series interrupted part-way keeps what finished.
Run it alone on a quiet machine; times are end-to-end wall seconds of
`bertft train` (tokenizing, training with per-epoch evaluation, final evaluation, files).

    python bench/long_texts.py --window 64 --strategies truncate chunk head_tail
    python bench/long_texts.py --window 128 --strategies truncate head_tail chunk
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from machine import describe  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="bbc_news")
    parser.add_argument("--window", type=int, default=128, help="--train_max_length")
    parser.add_argument("--strategies", nargs="+", default=["truncate", "head_tail", "chunk"])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--extra", default="", help="more `bertft train` flags, quoted")
    parser.add_argument("--output", help="default: bench/results/long_texts_<dataset>.json")
    parser.add_argument("--work", help="where run folders go (default: a temporary folder)")
    args = parser.parse_args()

    output = Path(args.output or HERE / "results" / f"long_texts_{args.dataset}.json")
    results = json.loads(output.read_text()) if output.is_file() else {"runs": {}}
    results["machine"] = describe()
    work = Path(args.work or tempfile.mkdtemp(prefix="bertft-long-"))
    for strategy in args.strategies:
        name = f"{strategy} @ {args.window}"
        command = [
            "bertft", "train", "--data", args.dataset, "--train_max_length", str(args.window),
            "--long_texts", strategy, "--seed", str(args.seed),
            "--output_dir", str(work / f"{strategy}-{args.window}"), "--overwrite_output_dir",
            "--resume", "never", *shlex.split(args.extra),
        ]  # fmt: skip
        print(f"--- {name}: {shlex.join(command)}", flush=True)
        started = time.perf_counter()
        run = subprocess.run(
            [sys.executable, "-m", "bertft", *command[1:]],
            env={**os.environ, "TOKENIZERS_PARALLELISM": "false"},
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - started
        if run.returncode != 0:
            print(run.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"{name} failed with exit code {run.returncode}")
        metrics = json.loads((work / f"{strategy}-{args.window}" / "metrics.json").read_text())
        validation = metrics["validation"]
        results["runs"][name] = {
            "command": shlex.join(command),
            "wall_seconds": round(seconds, 1),
            "accuracy": validation["accuracy"],
            "f1_macro": validation["f1_macro"],
            "validation_texts": validation["samples"],
            "validation_cut": validation.get("long_texts"),
            "train_cut": metrics.get("long_texts", {}).get("train"),
            "train_samples_per_second": metrics["train"].get("train_samples_per_second"),
            "load_average_at_end": os.getloadavg()[0],
            "finished": time.strftime("%Y-%m-%d %H:%M:%S"),
        }
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(json.dumps(results, indent=1) + "\n")  # after every run: keep it
        row = results["runs"][name]
        print(
            f"{name}: accuracy {row['accuracy']:.4f}, macro F1 {row['f1_macro']:.4f}, "
            f"{seconds:.0f} s",
            flush=True,
        )
    print(table(results))


def table(results: dict) -> str:
    """The runs as a Markdown table."""
    lines = [
        "| window | strategy | accuracy | macro F1 | validation texts cut | tokens dropped "
        "| training windows | wall time |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, row in results["runs"].items():
        strategy, window = name.split(" @ ")
        cut, train = row["validation_cut"] or {}, row["train_cut"] or {}
        lines.append(
            f"| {window} | {strategy} | {row['accuracy']:.4f} | {row['f1_macro']:.4f} "
            f"| {cut.get('texts_over_window')} of {cut.get('texts')} "
            f"| {cut.get('tokens_dropped_share', 0):.1%} "
            f"| {train.get('windows')} for {train.get('texts')} texts "
            f"| {row['wall_seconds']:.0f} s |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()

"""Training speed, side by side in one run: the seeds' Trainer recipe, the best-tuned plain
Trainer, and `bertft train`, on the same model, data, batch size, epochs, learning rate and seed.

Each runs in a fresh process, one after the other. Train samples/s are each tool's own
end-to-end figure (training with its per-epoch evaluation and checkpoint, as users run it);
eval samples/s are a final pass over the validation set.

    python bench/train_speed.py --dataset trec --train_samples 2000 --epochs 2
    python bench/train_speed.py --dataset bbc_news --train_samples 600 --max_length 256 --epochs 1
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from machine import describe, encoder_flops_per_token, matmul_peak  # noqa: E402

COMPETITORS = {
    "seed recipe (pad to max_length, fp32)": HERE / "competitors" / "seed_trainer.py",
    "tuned Trainer (dynamic pad, grouped, bf16 if native, fused AdamW)": HERE
    / "competitors"
    / "tuned_trainer.py",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="trec")
    parser.add_argument("--train_samples", type=int, default=2000)
    parser.add_argument("--eval_samples", type=int, default=1000)
    parser.add_argument("--epochs", type=float, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--learning_rate", type=float, default=1e-4)
    parser.add_argument("--max_length", type=int, default=128)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--skip", action="append", default=[], help="competitor name prefix")
    parser.add_argument("--output", help="also write the results as JSON here")
    args = parser.parse_args()

    from bertft.config import DataConfig
    from bertft.data.load import load_splits
    from bertft.model import load_tokenizer, resolve_model_path

    work = Path(tempfile.mkdtemp(prefix="bertft-bench-"))
    splits = load_splits(
        DataConfig(
            data=args.dataset,
            max_train_samples=args.train_samples,
            max_eval_samples=args.eval_samples,
        ),
        args.seed,
    )
    files = {}
    for name, examples in (("train", splits.train), ("validation", splits.validation)):
        files[name] = work / f"{name}.csv"
        pd.DataFrame({"text": examples.texts, "label": examples.labels}).to_csv(
            files[name], index=False
        )
    model = str(resolve_model_path("minilm"))
    tokenizer = load_tokenizer(model)
    lengths = [
        len(ids)
        for ids in tokenizer(splits.train.texts, truncation=True, max_length=args.max_length)[
            "input_ids"
        ]
    ]
    mean_tokens = sum(lengths) / len(lengths)
    shared = [args.batch, args.epochs, args.learning_rate, args.seed, args.max_length]
    from bertft.hardware import resolve_precision

    precision = resolve_precision("auto")  # what bertft picks; the tuned Trainer gets the same
    print(
        f"{args.dataset}: {len(splits.train)} train / {len(splits.validation)} validation texts, "
        f"mean {mean_tokens:.1f} tokens (max {args.max_length}); batch {args.batch}, "
        f"{args.epochs} epochs, lr {args.learning_rate}, seed {args.seed}; "
        f"precision for the tuned Trainer and bertft: {precision}",
        flush=True,
    )

    results = {}
    for name, script in COMPETITORS.items():
        if any(name.startswith(s) for s in args.skip):
            continue
        out = work / script.stem
        command = [sys.executable, str(script), model, str(files["train"])]
        command += [str(files["validation"]), str(out), *map(str, shared)]
        if "tuned" in script.stem:
            command.append(precision)
        results[name] = _run(name, command)
    for name, extra in (
        ("bertft train", []),
        ("bertft train --freeze_embeddings", ["--freeze_embeddings"]),
    ):
        out = work / name.replace(" ", "_")
        command = [sys.executable, "-m", "bertft", "train", "--model_id", model, *extra]
        command += ["--data", str(files["train"]), "--validation_data", str(files["validation"])]
        command += ["--output_dir", str(out), "--per_device_train_batch_size", str(args.batch)]
        command += ["--epochs", str(args.epochs), "--learning_rate", str(args.learning_rate)]
        command += ["--seed", str(args.seed), "--train_max_length", str(args.max_length)]
        results[name] = _run(name, command, metrics_file=out / "metrics.json")

    import torch
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model)
    peak = matmul_peak(torch.bfloat16 if precision == "bf16" else torch.float32)
    train_flops_per_sample = 3 * encoder_flops_per_token(config, mean_tokens) * mean_tokens
    for result in results.values():
        result["train_mfu"] = result["train_samples_per_second"] * train_flops_per_sample / peak
    _print_table(results)
    print(f"\nmachine: {describe()}; {precision} matmul peak {peak / 1e12:.2f} TFLOP/s (measured)")
    print(
        f"MFU: useful training FLOPs (3x forward, real tokens only) / that peak; working dir {work}"
    )
    if args.output:
        Path(args.output).write_text(
            json.dumps(
                {"settings": vars(args), "machine": describe(), "matmul_peak": peak, **results},
                indent=2,
            )
        )


def _run(name: str, command: list[str], metrics_file: Path | None = None) -> dict:
    print(f"running {name} ...", flush=True)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{name} failed:\n{done.stderr[-3000:]}")
    if metrics_file:
        metrics = json.loads(metrics_file.read_text())
        result = {
            "train_samples_per_second": metrics["train"]["train_samples_per_second"],
            "eval_samples_per_second": metrics["validation"]["samples_per_second"],
            "accuracy": metrics["validation"]["accuracy"],
            "f1_macro": metrics["validation"]["f1_macro"],
        }
    else:
        result = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    print(f"  {result}", flush=True)
    return result


def _print_table(results: dict[str, dict]) -> None:
    ours = results["bertft train"]
    print(
        "\n| run | train samples/s | eval samples/s | accuracy | macro F1 | train MFU "
        "| bertft train speed-up | bertft eval speed-up |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, r in results.items():
        train_ratio = ours["train_samples_per_second"] / r["train_samples_per_second"]
        eval_ratio = ours["eval_samples_per_second"] / r["eval_samples_per_second"]
        print(
            f"| {name} | {r['train_samples_per_second']:.1f} | {r['eval_samples_per_second']:.0f} "
            f"| {r['accuracy']:.4f} | {r['f1_macro']:.4f} | {r['train_mfu']:.1%} "
            f"| {train_ratio:.2f}x | {eval_ratio:.2f}x |"
        )


if __name__ == "__main__":
    main()

"""Inference speed, side by side in one run: `transformers.pipeline` called as its users call
it (fp32, batch_size=32) against bertft's `Classifier` backends, on the same model and texts.

Throughput over a labelled set (texts/s, accuracy), single-text latency (p50 over repeated calls)
and the bare forward time of the model for one text, for scale.

    python bench/inference_speed.py --model runs/trec --dataset trec
    python bench/inference_speed.py --model runs/trec --dataset bbc_news --max_texts 300
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from machine import describe, encoder_flops_per_token, matmul_peak  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="runs/trec", help="a folder from `bertft train`")
    parser.add_argument("--dataset", default="trec", help="texts to label (bundled name or file)")
    parser.add_argument("--max_texts", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--latency_calls", type=int, default=200)
    parser.add_argument("--output", help="also write the results as JSON here")
    args = parser.parse_args()
    model = Path(args.model)
    if not (model / "config.json").is_file():
        sys.exit(
            f"{model}: no trained model; run `make demo` (it writes runs/trec) or pass --model"
        )

    import torch
    from transformers import AutoConfig, AutoTokenizer, pipeline

    from bertft.data.load import read_examples
    from bertft.inference.classifier import Classifier

    examples = read_examples(args.dataset, labels_required=False)
    texts = examples.texts[: args.max_texts]
    truth = examples.labels[: args.max_texts] if examples.labels else None
    onnx_dir = Path(tempfile.mkdtemp(prefix="bertft-onnx-"))
    print(f"exporting {model} to ONNX (fp32 + int8) in {onnx_dir} ...", flush=True)
    done = subprocess.run(
        [sys.executable, "-m", "bertft", "export", "--model", str(model), "--quantize", "int8"]
        + ["--output_dir", str(onnx_dir), "--force"],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.exit(f"export failed:\n{done.stderr[-3000:]}")

    runners = {
        "transformers.pipeline fp32": _pipeline_runner(pipeline, model, args.batch),
        "bertft torch fp32": Classifier.from_pretrained(
            model, batch_size=args.batch, precision="fp32"
        ).predict,
        "bertft torch auto (bf16 weights if native)": Classifier.from_pretrained(
            model, batch_size=args.batch
        ).predict,
        "bertft onnx fp32": Classifier.from_pretrained(
            onnx_dir / "model.onnx", backend="onnx", batch_size=args.batch
        ).predict,
        "bertft onnx int8": Classifier.from_pretrained(
            onnx_dir / "model.int8.onnx", backend="onnx", batch_size=args.batch
        ).predict,
    }
    tokenizer = AutoTokenizer.from_pretrained(model)
    lengths = [len(x) for x in tokenizer(texts, truncation=True, max_length=512)["input_ids"]]
    mean_tokens = sum(lengths) / len(lengths)
    config = AutoConfig.from_pretrained(model)
    flops_per_text = encoder_flops_per_token(config, mean_tokens) * mean_tokens
    from bertft.hardware import cpu_has_native_bf16

    peak = matmul_peak(torch.bfloat16 if cpu_has_native_bf16() else torch.float32)
    print(
        f"{len(texts)} texts from {args.dataset}, mean {mean_tokens:.1f} tokens; batch "
        f"{args.batch}; {describe()}",
        flush=True,
    )

    results = {}
    for name, predict in runners.items():
        predict(texts[: args.batch])  # warm up: first-call allocations, lazy initialisation
        started = time.perf_counter()
        labels = predict(texts)
        seconds = time.perf_counter() - started
        latencies = []
        for i in range(args.latency_calls):
            one = texts[i % len(texts)]
            t = time.perf_counter()
            predict([one])
            latencies.append(time.perf_counter() - t)
        results[name] = {
            "texts_per_second": len(texts) / seconds,
            "accuracy": sum(a == b for a, b in zip(labels, truth, strict=True)) / len(texts)
            if truth
            else None,
            "latency_p50_ms": statistics.median(latencies) * 1000,
            "mfu": len(texts) / seconds * flops_per_text / peak,
        }
        print(f"  {name}: {results[name]}", flush=True)
    bare = _bare_forward_ms(model, tokenizer, texts, args.latency_calls)
    _print_table(results, bare)
    print(
        f"\nbest matmul peak {peak / 1e12:.2f} TFLOP/s (measured); MFU = useful forward FLOPs / it"
    )
    if args.output:
        Path(args.output).write_text(
            json.dumps({"settings": vars(args), "machine": describe(), **results}, indent=2)
        )


def _pipeline_runner(pipeline, model: Path, batch: int):
    classify = pipeline("text-classification", model=str(model), device="cpu")

    def predict(texts: list[str]) -> list[str]:
        return [r["label"] for r in classify(texts, batch_size=batch, truncation=True)]

    return predict


def _bare_forward_ms(model: Path, tokenizer, texts: list[str], calls: int) -> float:
    """p50 of the fp32 model's forward on one already-tokenized text: the floor for latency."""
    import torch
    from transformers import AutoModelForSequenceClassification

    net = AutoModelForSequenceClassification.from_pretrained(model).eval()
    times = []
    with torch.inference_mode():
        for i in range(calls):
            batch = tokenizer(texts[i % len(texts)], return_tensors="pt")
            t = time.perf_counter()
            net(**batch)
            times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def _print_table(results: dict[str, dict], bare_ms: float) -> None:
    base = results["transformers.pipeline fp32"]
    print("\n| run | texts/s | vs pipeline | accuracy | 1-text p50 ms | MFU |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, r in results.items():
        accuracy = f"{r['accuracy']:.4f}" if r["accuracy"] is not None else "-"
        print(
            f"| {name} | {r['texts_per_second']:.0f} "
            f"| {r['texts_per_second'] / base['texts_per_second']:.2f}x | {accuracy} "
            f"| {r['latency_p50_ms']:.2f} | {r['mfu']:.1%} |"
        )
    print(f"| bare fp32 forward, one pre-tokenized text | | | | {bare_ms:.2f} | |")


if __name__ == "__main__":
    main()

"""Big files at the seeds' scale, side by side in one run: a DBpedia-sized labelled CSV (560,000
rows made from the bundled trec, sms_spam and rotten_tomatoes texts, 10 labels) and an
unlabelled file for prediction.

- train: time to the first optimizer step, peak memory and tokenize throughput, for the Arrow
  path (`--arrow_from_mb 0`: memory-mapped, several tokenizing processes) and the in-memory one;
- predict: rows/s and peak memory of `bertft predict --input` per backend (PyTorch fp32, the
  int8 ONNX export with 1 process x all cores, and 2 processes x 1 thread on halves of the file,
  which is what an `--nproc 2` would do).

Each run is a fresh `bertft` process; peak memory is its (and its children's) max RSS.

    python bench/big_files.py --output bench/results/big_files.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from machine import describe  # noqa: E402

# Peak memory of the bertft process (VmHWM: its own high-water mark, which starts afresh at
# exec) and of the processes it waited for (tokenizing workers). Not ru_maxrss of SELF alone:
# Linux carries a forking parent's peak into it, and this script's own tokenizing step peaks high.
WRAP = (
    "import resource, sys; from bertft.cli import main; rc = main(sys.argv[1:]); "
    "own = next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM')); "
    "peak = max(own, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); "
    "print(f'PEAK_MB {peak / 1024:.0f}', file=sys.stderr); sys.exit(rc)"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train_rows", type=int, default=560_000)
    parser.add_argument("--predict_rows", type=int, default=100_000)
    parser.add_argument("--max_steps", type=int, default=5)
    parser.add_argument("--work", help="scratch folder (default: a temporary one)")
    parser.add_argument("--skip", default="", help="comma list: train, predict, torch")
    parser.add_argument("--output", help="also write the results as JSON here")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="bertft-big-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {"settings": vars(args), "machine": describe(), "load": os.getloadavg()}
    print(f"work folder {work}; {results['machine']}; load {results['load']}", flush=True)
    texts = _bundled_texts()
    if "train" not in args.skip:
        data = work / "dbpedia_sized.csv"
        _write_csv(data, texts, args.train_rows, labelled=True)
        results["train"] = _train(data, work, args)
        results["tokenize"] = _tokenize_throughput(data)
    if "predict" not in args.skip:
        source = work / "to_label.csv"
        _write_csv(source, texts, args.predict_rows, labelled=False)
        results["predict"] = _predict(source, work, args)
    results["load_after"] = os.getloadavg()
    print(json.dumps(results, indent=2))
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=2) + "\n")


def _bundled_texts() -> list[tuple[str, str]]:
    from bertft.data.bundled import load_bundled

    out = []
    for name in ("trec", "sms_spam", "rotten_tomatoes"):
        texts, labels = load_bundled(name)
        out += [(t, f"{name}:{y}") for t, y in zip(texts, labels, strict=True)]
    return out


def _write_csv(path: Path, texts: list[tuple[str, str]], rows: int, labelled: bool) -> None:
    """`rows` rows cycling through the bundled texts; a row number makes every text unique."""
    import csv

    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "text", "label"] if labelled else ["id", "text"])
        for i in range(rows):
            text, label = texts[i % len(texts)]
            row = [i, f"{text} ({i})"] + ([label] if labelled else [])
            writer.writerow(row)
    print(f"wrote {rows:,} rows to {path} ({path.stat().st_size / 2**20:.0f} MB)", flush=True)


def _run(args: list[str], env: dict | None = None) -> tuple[float, float, list[tuple[float, str]]]:
    """(seconds, peak MB, timestamped stdout+stderr lines) of `bertft ARGS` in a fresh process."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-c", WRAP, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})},
    )
    lines = [(time.perf_counter() - started, line) for line in process.stdout]
    process.wait()
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        sys.exit("".join(line for _, line in lines[-40:]))
    peak = next(float(line.split()[1]) for _, line in lines if line.startswith("PEAK_MB"))
    return seconds, peak, lines


def _train(data: Path, work: Path, args) -> dict:
    out = {}
    for name, arrow_from in (("arrow", "0"), ("in_memory", "1000000")):
        run = work / f"run-{name}"
        seconds, peak, lines = _run(
            [
                "train",
                "--data",
                str(data),
                "--output_dir",
                str(run),
                "--overwrite_output_dir",
                "--max_steps",
                str(args.max_steps),
                "--logging_steps",
                "1",
                "--max_eval_samples",
                "500",
                "--arrow_from_mb",
                arrow_from,
                "--precision",
                "fp32",
            ],
            env={"HF_DATASETS_CACHE": str(work / f"hf-cache-{name}")},
        )
        first_step = next(t for t, line in lines if "'loss'" in line or '"loss"' in line)
        out[name] = {
            "seconds_to_first_step": round(first_step, 1),
            "seconds_total": round(seconds, 1),
            "peak_mb": peak,
        }
        print(f"train {name}: {out[name]}", flush=True)
    return out


def _tokenize_throughput(data: Path) -> dict:
    """Rows/s of the tokenizing step alone, in-memory (one call, the tokenizer's own threads)
    against datasets.map with 1 and 2 processes, on the same 560k texts."""
    import pandas as pd

    from bertft.data.arrow import read_arrow
    from bertft.data.encoding import TextEncoder
    from bertft.data.examples import Examples
    from bertft.data.features import tokenize, tokenize_arrow
    from bertft.model import load_tokenizer
    from bertft.tasks import SingleLabel
    from bertft.windows import WindowSpec

    tokenizer = load_tokenizer("minilm")
    frame = pd.read_csv(data, dtype=str, keep_default_na=False)
    labels = SingleLabel(sorted(frame.label.unique().tolist()))
    examples = Examples(frame.text.tolist(), frame.label.tolist(), str(data), [], "text")
    out = {}
    started = time.perf_counter()
    tokenize(TextEncoder(tokenizer, WindowSpec(128)), examples, labels)
    out["in_memory_rows_per_s"] = round(len(frame) / (time.perf_counter() - started))
    del examples, frame
    cache = Path(tempfile.mkdtemp(prefix="bertft-tok-"))
    arrow = read_arrow(str(data), None, None, False, cache)
    for procs in (1, 2):
        started = time.perf_counter()
        encoder = TextEncoder(tokenizer, WindowSpec(128 + procs))  # a new fingerprint each
        tokenize_arrow(encoder, arrow, labels, num_proc=procs)
        out[f"arrow_{procs}_proc_rows_per_s"] = round(len(arrow) / (time.perf_counter() - started))
    print(f"tokenize: {out}", flush=True)
    return out


def _predict(source: Path, work: Path, args) -> dict:
    model = work / "minilm-classifier"
    if not (model / "onnx" / "model.int8.onnx").is_file():
        _make_model(model)
    rows = args.predict_rows
    out = {}
    runs = [("torch", ["--backend", "torch"]), ("onnx int8 (auto), 1 proc", ["--backend", "auto"])]
    for name, flags in runs[1:] if "torch" in args.skip else runs:
        target = work / f"pred-{name.split()[0]}.csv"
        seconds, peak, _ = _run(_predict_args(model, source, target, *flags))
        out[name] = _rate(rows, seconds, peak)
        print(f"predict {name}: {out[name]}", flush=True)
    out["onnx int8, 2 processes x 1 thread"] = _two_processes(model, source, work, rows)
    return out


def _two_processes(model: Path, source: Path, work: Path, rows: int) -> dict:
    """What `--nproc 2` would do: each process labels half the file with one thread."""
    import pandas as pd  # CSV-aware: a quoted text may hold a line break

    frame = pd.read_csv(source, dtype=str, keep_default_na=False)
    halves = []
    for part in range(2):
        half = work / f"half{part}.csv"
        frame.iloc[part::2].to_csv(half, index=False)
        halves.append(half)
    del frame
    started = time.perf_counter()
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                WRAP,
                *_predict_args(model, half, work / f"pred-half{i}.csv", "--threads", "1"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        for i, half in enumerate(halves)
    ]
    peaks = []
    for process in processes:
        _, err = process.communicate()
        if process.returncode != 0:
            sys.exit(err[-3000:])
        peaks.append(float(err.split("PEAK_MB")[1].split()[0]))
    seconds = time.perf_counter() - started
    result = _rate(rows, seconds, sum(peaks))
    print(f"predict onnx int8, 2 processes: {result}", flush=True)
    return result


def _predict_args(model: Path, source: Path, target: Path, *flags: str) -> list[str]:
    """`bertft predict` over a CSV, keeping its id column (the arguments after `bertft`)."""
    return [
        "predict", "--model", str(model), "--input", str(source), "--output", str(target),
        "--overwrite", "--keep_columns", "id", *flags,
    ]  # fmt: skip


def _rate(rows: int, seconds: float, peak_mb: float) -> dict:
    return {"rows_per_s": round(rows / seconds), "seconds": round(seconds, 1), "peak_mb": peak_mb}


def _make_model(folder: Path) -> None:
    """The bundled MiniLM with a (random) 10-label head, and its int8 export: speed and memory
    do not depend on what the head learnt."""
    from transformers import AutoModelForSequenceClassification

    from bertft.model import load_tokenizer, resolve_model_path

    base = resolve_model_path("minilm")
    labels = {i: f"label{i}" for i in range(10)}
    model = AutoModelForSequenceClassification.from_pretrained(
        base, num_labels=10, id2label=labels, label2id={v: k for k, v in labels.items()}
    )
    model.save_pretrained(folder)
    load_tokenizer("minilm").save_pretrained(folder)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bertft",
            "export",
            "--model",
            str(folder),
            "--quantize",
            "int8",
            "--force",
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.exit(done.stderr[-3000:])


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    main()

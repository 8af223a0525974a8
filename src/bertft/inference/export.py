"""Export a trained model to ONNX (optionally int8), and prove it still gives the same answers.

Every export is compared with the PyTorch model on real texts: largest logit difference, argmax
agreement and, with labelled data, the accuracy of each. An export that drifts further than the
limits is refused, and nothing is left where the export would have gone, unless forced.
"""

from __future__ import annotations

import logging
import warnings
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from bertft.errors import BertftError
from bertft.files import replacing_folder, write_json
from bertft.progress import library_bars_off
from bertft.settings import ExportSettings
from bertft.tasks import greater_is_better

__all__ = ["ExportSettings", "export", "format_export_report"]

# Texts for the parity check when the user gives no data: questions, reviews, messages and
# headlines of different lengths, so that padding and truncation are exercised too.
SAMPLE_TEXTS = [
    "What is the capital of France?",
    "Who wrote Hamlet?",
    "How many feet are in a mile?",
    "Great film, I would watch it again tomorrow.",
    "The service was slow and the soup arrived cold.",
    "Free entry in a weekly competition to win cup final tickets, text WIN now",
    "Are we still meeting for lunch at noon?",
    "Shares fell sharply after the company warned that profits would miss forecasts.",
    "The striker scored twice in the second half to win the match for his team.",
    "A new phone with a bigger battery and a faster chip goes on sale next month.",
    "ok",
    "Why is the sky blue during the day but red at sunset, and does pollution change it?",
    " ".join(["This long text repeats itself to test truncation and long sequences."] * 60),
]


def export(settings: ExportSettings) -> dict[str, Any]:
    """Write MODEL/onnx (or `output_dir`): model.onnx [+ model.int8.onnx], tokenizer, config and
    export_report.json. Returns the report. Raises BertftError when a check fails (unless forced),
    leaving any earlier export in place and no new one."""
    settings.validate()
    from bertft.inference.classifier import Classifier

    model_dir = Path(settings.model)
    out = Path(settings.output_dir) if settings.output_dir else model_dir / "onnx"
    with _quiet():
        reference = Classifier.from_pretrained(model_dir, backend="torch", precision="fp32")
    task = reference.task
    # Bad data is refused before the slow part.
    texts, pairs, labels = _parity_texts(settings, reference)

    # A refused export leaves nothing, and any earlier export where it was.
    with replacing_folder(out) as work:
        with _quiet():
            files = _write_onnx(model_dir, work, settings)
        reference_logits = reference.predict_logits(texts, pairs)
        report: dict[str, Any] = {
            "model": str(model_dir),
            "task": task.name,
            "settings": asdict(settings),
            "parity_texts": len(texts),
            "parity_data": settings.eval_data or "built-in sample texts",
            "pytorch": _quality_entry(task, reference_logits, labels),
            "exports": {},
        }
        problems = []
        for name, path in files.items():
            clf = Classifier.from_pretrained(path, backend="onnx")
            logits = clf.predict_logits(texts, pairs)
            entry = _compare(task, logits, reference_logits, labels)
            entry["file"] = path.name
            entry["bytes"] = path.stat().st_size
            report["exports"][name] = entry
            problems += _problems(name, entry, report["pytorch"], settings, task)
        report["problems"] = problems
        report["accepted"] = not problems
        report["forced"] = bool(problems) and settings.force
        write_json(work / "export_report.json", report)
        if problems and not settings.force:
            raise BertftError(
                "export refused: "
                + "; ".join(problems)
                + ". Nothing was written; pass --force to keep it anyway"
            )
    report["output_dir"] = str(out)
    return report


@contextmanager
def _quiet():
    """Silence the exporter's tracer warnings, ORT's "consider pre-processing" advice and
    weight-loading bars: they are about internals the user cannot act on."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        # put back as they were: turning the bars on where HF_HUB_DISABLE_PROGRESS_BARS keeps
        # them off (the CLI sets it) printed a UserWarning
        with library_bars_off(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)


def _parity_texts(settings: ExportSettings, reference) -> tuple[list, list | None, list | None]:
    """(texts, second texts of pairs or None, labels or None) for the checks."""
    if not settings.eval_data:
        texts = list(SAMPLE_TEXTS)
        # A pair model is checked on the sample texts paired with the next one.
        pairs = texts[1:] + texts[:1] if reference.pair_column else None
        return texts, pairs, None
    from bertft.data.load import read_examples
    from bertft.tasks import TaskSettings

    examples = read_examples(
        settings.eval_data,
        settings.text_column,
        settings.label_column,
        split=settings.split,
        text_pair_column=settings.text_pair_column,
        preferred=reference.columns,
    )
    task = reference.task
    separator = getattr(task, "separator", None)
    examples = type(task).parse(examples, TaskSettings(label_separator=separator))
    task.check(examples)
    if settings.max_eval_samples is not None and len(examples) > settings.max_eval_samples:
        # An even spread over the file, not its head: files are often sorted by label.
        idx = np.linspace(0, len(examples) - 1, settings.max_eval_samples).round().astype(int)
        examples = examples.subset(sorted(set(idx.tolist())))
    return examples.texts, examples.pairs, examples.labels


def _write_onnx(model_dir: Path, work: Path, settings: ExportSettings) -> dict[str, Path]:
    """Export fp32 (fused when possible), quantize if asked; copy tokenizer and config so the
    folder stands on its own. Returns {"fp32": path, "int8": path}."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    # ORT fuses attention only in the graph of the eager attention code (not SDPA).
    model = AutoModelForSequenceClassification.from_pretrained(
        model_dir, attn_implementation="eager"
    ).eval()
    names = model_input_names(model, tokenizer)
    sample = tokenizer(
        ["a short text", "and a second, longer text"], padding=True, return_tensors="pt"
    )
    inputs = tuple(sample[n] for n in names)
    axes = {n: {0: "batch", 1: "sequence"} for n in names} | {"logits": {0: "batch"}}
    raw = work / "model.raw.onnx"
    with torch.inference_mode():
        # The TorchScript exporter: ORT's fusion patterns match its graphs, not dynamo's.
        torch.onnx.export(
            _by_name(model, names),
            inputs,
            str(raw),
            input_names=names,
            output_names=["logits"],
            dynamic_axes=axes,
            opset_version=settings.opset,
            dynamo=False,
        )

    fp32 = work / "model.onnx"
    if settings.optimize and _fuse(raw, fp32, model.config):
        raw.unlink()
    else:
        raw.replace(fp32)
    tokenizer.save_pretrained(work)
    model.config.save_pretrained(work)
    files = {"fp32": fp32}
    if settings.quantize == "int8":
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic

        int8 = work / "model.int8.onnx"
        quantize_dynamic(
            str(fp32),
            str(int8),
            weight_type=QuantType.QInt8,
            # One scale per output channel: measured on MiniLM/TREC, argmax agreement with
            # PyTorch 0.98 against 0.955 with one scale per matrix, at the same speed.
            per_channel=True,
            # The fused graph has ops without type info; without this quantization fails.
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
        files["int8"] = int8
    return files


def model_input_names(model, tokenizer) -> list[str]:
    """The tokenizer outputs the model's forward takes, in a fixed order. A tokenizer may make
    inputs its model has no use for (a BERT tokenizer's token_type_ids with DistilBERT), and a
    model may take inputs its tokenizer never makes (RoBERTa's token_type_ids)."""
    import inspect

    accepted = inspect.signature(model.forward).parameters
    made = set(tokenizer.model_input_names) | {"input_ids"}
    return [
        n for n in ("input_ids", "attention_mask", "token_type_ids") if n in made & set(accepted)
    ]


def _by_name(model, names: list[str]):
    """The model as a module of positional inputs -> logits. The exporter passes inputs by
    position, and positions differ between architectures (DistilBERT's third argument is
    head_mask, not token_type_ids), so they are handed on by name."""
    import torch

    class ByName(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, *inputs):
            return self.model(**dict(zip(names, inputs, strict=True))).logits

    return ByName()


def _fuse(raw: Path, out: Path, config) -> bool:
    """ORT's transformer optimizer (fused attention, GELU, layer norm) for BERT-like models.
    Returns False, leaving `raw` as the model, for architectures it does not know."""
    model_type = {
        "bert": "bert",
        "roberta": "bert",
        "distilbert": "bert",
        "xlm-roberta": "bert",
        "electra": "bert",
    }.get(config.model_type)
    if model_type is None:
        logging.getLogger(__name__).warning(
            "bertft: no graph fusion for model type '%s'", config.model_type
        )
        return False
    from onnxruntime.transformers.optimizer import optimize_model

    optimized = optimize_model(
        str(raw),
        model_type=model_type,
        num_heads=config.num_attention_heads,
        hidden_size=config.hidden_size,
        opt_level=0,
    )
    optimized.save_model_to_file(str(out))
    return True


def _quality_entry(task, logits: np.ndarray, labels: list | None) -> dict[str, Any]:
    """The task's own quality metric against the labels: accuracy (single-label), micro F1
    (multi-label), RMSE (regression); None without labels."""
    if labels is None:
        return {"metric": None, "value": None, "accuracy": None}
    name, value = task.quality(labels, task.scores(logits))
    return {"metric": name, "value": round(value, 6), name: round(value, 6)}


def _compare(task, logits: np.ndarray, reference: np.ndarray, labels: list | None) -> dict:
    """How far an export's answers are from PyTorch's on the same texts."""
    same = task.same_decision(task.scores(reference), task.scores(logits))
    return {
        "max_abs_logit_diff": float(np.abs(logits - reference).max()),
        "agreement": round(float(same.mean()), 6),
        "disagreements": int((~same).sum()),
        # The older name for single-label models, kept for their readers.
        **({"argmax_agreement": round(float(same.mean()), 6)} if len(task.names) > 1 else {}),
        **_quality_entry(task, logits, labels),
    }


def _problems(
    name: str, entry: dict[str, Any], pytorch: dict[str, Any], s: ExportSettings, task
) -> list[str]:
    if name == "fp32":
        # fp32 must be the same model; any changed answer means the export is wrong.
        problems = []
        if entry["max_abs_logit_diff"] > s.max_logit_diff:
            problems.append(
                f"fp32 logits differ from PyTorch by {entry['max_abs_logit_diff']:.2e} "
                f"(limit {s.max_logit_diff:g})"
            )
        if entry["disagreements"]:
            problems.append(f"fp32 changes {entry['disagreements']} predictions")
        return problems
    # Quantized: judged on the task's metric lost, against labels when given, else on the
    # answers that differ from PyTorch's (each counts as lost).
    if pytorch["value"] is not None:
        metric = pytorch["metric"]
        if greater_is_better(metric):  # accuracy, micro F1: points lost
            drop = 100 * (pytorch["value"] - entry["value"])
        else:  # RMSE: percent worse
            drop = 100 * (entry["value"] - pytorch["value"]) / max(pytorch["value"], 1e-12)
        what = f"{metric} {entry['value']:.4f} vs PyTorch {pytorch['value']:.4f}"
    else:
        drop = 100 * (1 - entry["agreement"])
        what = f"agrees with PyTorch on {entry['agreement']:.4f} of the texts"
    entry["accuracy_drop_points"] = round(drop, 4)
    if drop > s.max_accuracy_drop:
        return [
            f"{name} loses {drop:.2f} points ({what}; "
            f"limit --max_accuracy_drop {s.max_accuracy_drop:g})"
        ]
    return []


def format_export_report(report: dict[str, Any]) -> str:
    """The report as a few lines for the terminal."""
    lines = [f"parity on {report['parity_texts']} texts ({report['parity_data']})"]
    pytorch = report["pytorch"]
    if pytorch["value"] is not None:
        lines.append(f"  pytorch  {pytorch['metric']} {pytorch['value']:.4f}")
    for name, e in report["exports"].items():
        line = (
            f"  {name:<7}  {e['file']:<16} {e['bytes'] / 1e6:7.1f} MB  max |logit diff| "
            f"{e['max_abs_logit_diff']:.2e}  same answers {e['agreement']:.4f}"
        )
        if e["value"] is not None:
            line += f"  {e['metric']} {e['value']:.4f}"
        lines.append(line)
    if report["forced"]:
        lines.append("FORCED past failed checks: " + "; ".join(report["problems"]))
    lines.append(f"written to {report['output_dir']}")
    return "\n".join(lines)

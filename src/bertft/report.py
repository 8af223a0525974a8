"""What a person reads after a run: the model card (README.md in the model folder)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bertft.config import TrainConfig

_HEADLINE = ("accuracy", "f1_macro", "f1_weighted", "precision_macro", "recall_macro")


def write_model_card(out: Path, cfg: TrainConfig, metrics: dict[str, Any]) -> Path:
    """A Hugging Face style model card: YAML metadata, then what the model is, how it was
    trained, how well it does and how to load it."""
    validation = metrics["validation"]
    meta = {
        "library_name": "transformers",
        "pipeline_tag": "text-classification",
        "base_model": cfg.model_id,
        "tags": ["bertft", "text-classification"],
        "model-index": [
            {
                "name": out.name,
                "results": [
                    {
                        "task": {"type": "text-classification"},
                        "dataset": {
                            "name": cfg.data.data,
                            "type": cfg.data.data,
                            "split": "validation",
                        },
                        "metrics": [
                            {"type": k, "value": round(validation[k], 4)} for k in _HEADLINE
                        ],
                    }
                ],
            }
        ],
    }
    hyper = {
        k: v
        for k, v in cfg.to_dict().items()
        if k
        in (
            "learning_rate",
            "per_device_train_batch_size",
            "epochs",
            "train_max_length",
            "seed",
            "weight_decay",
            "warmup_ratio",
            "gradient_accumulation_steps",
        )
    }
    rows = [
        "| metric | validation |" + (" test |" if "test" in metrics else ""),
        "| --- | --- |" + (" --- |" if "test" in metrics else ""),
    ]
    for key in _HEADLINE:
        test = f" {metrics['test'][key]:.4f} |" if "test" in metrics else ""
        rows.append(f"| {key} | {validation[key]:.4f} |{test}")
    per_class = ["| label | precision | recall | F1 | support |", "| --- | --- | --- | --- | --- |"]
    for name, row in validation["per_class"].items():
        per_class.append(
            f"| {name} | {row['precision']:.4f} | {row['recall']:.4f} | "
            f"{row['f1']:.4f} | {row['support']} |"
        )

    text = f"""---
{yaml.safe_dump(meta, sort_keys=False).strip()}
---

# {out.name}

A text classifier fine-tuned from `{cfg.model_id}` with [bertft](https://pypi.org/project/bertft/)
on `{cfg.data.data}` ({metrics["train"]["samples"]} training texts). It sorts a text into one of
{len(metrics["labels"])} labels: {", ".join(f"`{x}`" for x in metrics["labels"])}.

## Intended use

Classifying texts like those it was trained on. It has seen nothing else: check it on your own
labelled sample (`bertft evaluate --model DIR --data FILE`) before relying on it.

## Results

{chr(10).join(rows)}

{chr(10).join(per_class)}

## Training

{chr(10).join(f"- {k}: {v}" for k, v in hyper.items())}
- precision: {metrics["precision"]}
- training time: {metrics["train"]["wall_seconds"]} s

## How to use

```python
from transformers import pipeline

classify = pipeline("text-classification", model="{out}")
classify("your text here")
```

or `bertft predict --model {out} --text "your text here"`.
"""
    path = out / "README.md"
    path.write_text(text, encoding="utf-8")
    return path

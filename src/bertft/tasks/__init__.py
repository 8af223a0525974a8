"""The tasks bertft trains: one object per task, chosen once and asked everywhere.

>>> task, why = choose_task("auto", examples, TaskSettings())
>>> task = task_from_config(AutoConfig.from_pretrained("runs/trec"))
"""

from __future__ import annotations

from bertft.errors import BertftError
from bertft.tasks.base import (
    CONFIG_KEY,
    Figure,
    Recipe,
    Task,
    TaskSettings,
    best_answer,
    check_metric,
    greater_is_better,
    label_scores,
    ranked,
)
from bertft.tasks.multi_label import MultiLabel
from bertft.tasks.regression import Regression, _number
from bertft.tasks.single_label import SingleLabel

TASKS = {cls.name: cls for cls in (SingleLabel, MultiLabel, Regression)}
TASK_CHOICES = ("auto", *TASKS)

__all__ = [
    "CONFIG_KEY",
    "TASKS",
    "TASK_CHOICES",
    "Figure",
    "Recipe",
    "MultiLabel",
    "Regression",
    "SingleLabel",
    "Task",
    "TaskSettings",
    "best_answer",
    "check_metric",
    "choose_task",
    "greater_is_better",
    "label_scores",
    "ranked",
    "task_from_config",
    "task_of",
]


def choose_task(requested: str, examples, settings: TaskSettings) -> tuple[type, str]:
    """The task class for `requested` (auto or a name) and why, from the training labels."""
    if requested != "auto":
        if requested not in TASKS:
            raise BertftError(f"--task {requested}: choose from {', '.join(TASK_CHOICES)}")
        return TASKS[requested], "--task " + requested
    labels = examples.labels
    listed = next((i for i, y in enumerate(labels) if isinstance(y, tuple)), None)
    if listed is not None:
        return MultiLabel, f"{examples.rows[listed]} has a list of labels"
    if settings.label_separator:
        return MultiLabel, f"--label_separator '{settings.label_separator}' was given"
    values = [_number(y) for y in labels]
    if all(v is not None for v in values) and not all(v.is_integer() for v in values):
        return Regression, "every label is a number and not all are integers"
    return SingleLabel, "one name per text"


def task_from_config(config) -> Task:
    """The task a saved model was trained for, from its config.json (problem_type and bertft's
    saved thresholds). A model without problem_type is single-label, as transformers reads it
    when it has several outputs."""
    problem_type = getattr(config, "problem_type", None)
    for cls in TASKS.values():
        if cls.problem_type == problem_type:
            return cls.from_config(config)
    if problem_type is None and config.num_labels == 1:
        return Regression.from_config(config)
    return SingleLabel.from_config(config)


def task_of(model: str, backend: str = "torch") -> Task:
    """The task of a model folder (or ONNX export), read from its config.json alone."""
    from pathlib import Path

    from transformers import AutoConfig

    path = Path(model)
    folder = path.parent if path.suffix == ".onnx" else path
    if backend == "onnx" and not (folder / "config.json").is_file():
        folder = folder / "onnx"
    return task_from_config(AutoConfig.from_pretrained(folder))

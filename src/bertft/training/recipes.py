"""Which recipe a run trains with where the user gives no settings: the one place that chooses,
and says what it chose and why (training, metrics.json, the report and the card read it here).

- `standard`: a validation split, the task's epochs and learning rate, the best epoch kept.
- `few_shot`: for a few dozen texts a class. Holding a fifth out would leave a handful of texts
  to pick epochs on, too few to trust; so every text trains, for a fixed number of steps
  measured to be right at 8 to 64 texts a class (bench/few_shot.py, docs/benchmarks.md), and the
  last step's model is kept. The model reads its texts by mean pooling, as the bundled
  sentence-embedding models were trained to be read (`model.add_mean_pooling_layer`), and
  learns with a pair loss beside the task's own: texts that share labels are drawn together,
  the others apart, as SetFit's contrastive stage does, in the same steps.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

from bertft.errors import BertftError

RECIPES = ("auto", "standard", "few_shot")
# `auto` trains few-shot below this many texts a class on average (a label, for multi-label;
# regression: below this many texts in all). At 64 a class few_shot was at least as accurate as
# standard on the bundled sets (docs/benchmarks.md, "Few labelled texts").
FEW_SHOT_BELOW = 100


@dataclass(frozen=True)
class FewShot:
    """The few-shot schedule, where the user sets no epochs or steps of their own."""

    max_steps: int = 150
    per_device_train_batch_size: int = 16
    learning_rate: float = 5e-5
    pair_loss_weight: float = 1.0  # the pair loss beside the task's (0: the task's loss alone)
    head_learning_rate_scale: float = 20.0  # the new head's rate, in times the layers' rate


FEW_SHOT = FewShot()


@dataclass(frozen=True)
class Choice:
    name: str  # standard or few_shot
    why: str  # said on the terminal and kept in metrics.json


def texts_per_class(task_name: str, labels: list) -> float:
    """The mean number of training texts a class has (a label, for multi-label; every text
    counts once for regression)."""
    if task_name == "regression":
        return float(len(labels))
    if task_name == "multi_label":
        counts = Counter(name for names in labels for name in names)
    else:
        counts = Counter(labels)
    return len(labels) if not counts else sum(counts.values()) / len(counts)


def choose(asked: str, task_name: str, labels: list) -> Choice:
    """The recipe for these training labels: the one asked for, or, for `auto`, few_shot under
    FEW_SHOT_BELOW texts a class."""
    if asked not in RECIPES:
        raise BertftError(f"--recipe {asked}: expected one of {', '.join(RECIPES)}")
    per_class = texts_per_class(task_name, labels)
    unit = "texts" if task_name == "regression" else "texts a class"
    size = f"{per_class:.0f} {unit}" if task_name == "regression" else f"{per_class:.1f} {unit}"
    if asked != "auto":
        return Choice(asked, f"--recipe {asked}; {size}")
    if per_class < FEW_SHOT_BELOW:
        return Choice("few_shot", f"{size}, under {FEW_SHOT_BELOW}: --recipe standard to change")
    return Choice("standard", f"{size}, {FEW_SHOT_BELOW} or more")


def refuse_too_few(task_name: str, labels: list, origin: str) -> None:
    """A class with a single text cannot be learnt as a class (nor paired with another of its
    own): named, with what to do, before any model loads."""
    if task_name != "single_label":
        return
    lonely = sorted(str(name) for name, n in Counter(labels).items() if n < 2)
    if lonely:
        raise BertftError(
            f"{origin}: {len(lonely)} class(es) with a single training text ({', '.join(lonely)}):"
            " give each class at least 2 texts (8 or more trains well), or drop those rows"
        )


# The standard recipe's epochs are raised where they would make fewer optimizer steps than this:
# 300 texts made 24 steps, too few for a new head to learn (issue 27's "every score between
# 0.50 and 0.53").
MIN_STANDARD_STEPS = 100


def standard_epochs(epochs: float, texts: int, per_step: int) -> float:
    """The task's epochs, or more where they would make under MIN_STANDARD_STEPS steps of
    `per_step` texts (the Trainer's count: a partial last batch is a step)."""
    steps_per_epoch = max(1, math.ceil(texts / per_step))
    return max(epochs, float(math.ceil(MIN_STANDARD_STEPS / steps_per_epoch)))


def save_steps(max_steps: int) -> int:
    """A checkpoint each quarter of a few-shot run: a resume loses at most a quarter."""
    return max(1, math.ceil(max_steps / 4))

"""Per-class loss weights for imbalanced data: computed from label counts or read from a file."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from bertft.errors import BertftError

EXPECTED = "auto, none, or a JSON/YAML file mapping each label to a positive weight"


def inverse_frequency(counts: dict[str, int], names: Sequence[str]) -> list[float]:
    """Weights proportional to 1/count, scaled so their mean over the classes is 1.

    Mean 1 keeps the loss on the same scale as the unweighted one, so the learning rate that
    suits an unweighted run suits a weighted one too."""
    missing = [n for n in names if counts.get(n, 0) <= 0]
    if missing:
        raise BertftError(
            f"--class_weights auto: no training examples of {', '.join(missing)}, "
            f"so no frequency to invert"
        )
    inverse = [1.0 / counts[n] for n in names]
    mean = sum(inverse) / len(inverse)
    return [w / mean for w in inverse]


def read_weights_file(path: Path, names: Sequence[str]) -> list[float]:
    """Weights from a JSON or YAML mapping label -> weight; every label must have one."""
    import yaml

    where = f"--class_weights {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise BertftError(f"{where}: cannot read it ({e})") from None
    try:
        values = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as e:
        raise BertftError(f"{where}: not valid {path.suffix.lstrip('.').upper()} ({e})") from None
    if not isinstance(values, dict):
        raise BertftError(
            f"{where}: expected a mapping of label: weight, got {type(values).__name__}"
        )
    # YAML reads `1: 2.0` with an integer key; labels are strings everywhere else.
    weights = {str(k): v for k, v in values.items()}
    unknown = sorted(set(weights) - set(names))
    if unknown:
        raise BertftError(
            f"{where}: unknown label(s) {', '.join(unknown)} (the labels are {', '.join(names)})"
        )
    missing = [n for n in names if n not in weights]
    if missing:
        raise BertftError(f"{where}: no weight for label(s) {', '.join(missing)}")
    out = []
    for name in names:
        value = weights[name]
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not math.isfinite(value) or value <= 0:
            raise BertftError(
                f"{where}: the weight of label '{name}' must be a positive number, got {value!r}"
            )
        out.append(float(value))
    return out


def resolve_class_weights(
    setting: str, train_labels: Sequence[str], names: Sequence[str]
) -> dict[str, float] | None:
    """`--class_weights` -> {label: weight} in label-id order, or None for an unweighted loss."""
    if setting == "none":
        return None
    if setting == "auto":
        weights = inverse_frequency(dict(Counter(train_labels)), names)
    else:
        path = Path(setting)
        if not path.is_file():
            raise BertftError(f"--class_weights {setting}: no such file (expected {EXPECTED})")
        weights = read_weights_file(path, names)
    return dict(zip(names, weights, strict=True))

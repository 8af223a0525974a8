"""`--report_to`: experiment trackers the Trainer already speaks to, checked before training."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from bertft.config import TRACKERS
from bertft.errors import BertftError


def check_tracker(name: str) -> None:
    """Refuse a tracker whose package is missing now, not after the model has loaded."""
    package = TRACKERS.get(name)
    if package and importlib.util.find_spec(package) is None:
        raise BertftError(f"--report_to {name} needs the {package} package: pip install {package}")


def point_tensorboard_at(trainer, folder: Path) -> None:
    """Write TensorBoard event files to `folder` (OUTPUT_DIR/runs) rather than into the
    checkpoint folder, which is pruned and may live on another volume."""
    from transformers.integrations import TensorBoardCallback

    for callback in trainer.callback_handler.callbacks:
        if isinstance(callback, TensorBoardCallback) and callback.logging_dir is None:
            callback.logging_dir = str(folder)

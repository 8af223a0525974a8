"""`--report_to`: experiment trackers the Trainer already speaks to, checked before training."""

from __future__ import annotations

import contextlib
import importlib.util
import os
from pathlib import Path

from bertft.config import TRACKERS
from bertft.errors import BertftError


def check_tracker(name: str) -> None:
    """Refuse a tracker that cannot log, now rather than after the model has loaded (where the
    tracker's own exception would end the run): its package is missing, mlflow cannot reach
    its tracking store, or wandb has no API key and is not offline."""
    package = TRACKERS.get(name)
    if package and importlib.util.find_spec(package) is None:
        raise BertftError(f"--report_to {name} needs the {package} package: pip install {package}")
    if name == "mlflow":
        _check_mlflow()
    elif name == "wandb":
        _check_wandb()


def _check_mlflow() -> None:
    import mlflow

    uri = mlflow.get_tracking_uri()
    # One try with a short timeout: mlflow's own retries take minutes to give up on a server
    # that is down. The variables are read per request, so setting them here is enough.
    quick = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}
    with _environ(quick):
        try:
            mlflow.MlflowClient(uri).search_experiments(max_results=1)
        except Exception as e:  # mlflow raises many kinds; what matters is the message
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise BertftError(
                f"--report_to mlflow: cannot use the tracking store {uri} ({reason}); "
                f"set MLFLOW_TRACKING_URI to a running tracking server or a store mlflow accepts"
            ) from None


def _check_wandb() -> None:
    if os.environ.get("WANDB_MODE", "").lower() in ("offline", "disabled", "dryrun"):
        return
    if os.environ.get("WANDB_API_KEY"):
        return
    import wandb

    if not wandb.login(prompt=False, verify=False):  # a key from `wandb login` counts
        raise BertftError(
            "--report_to wandb: no W&B API key; run `wandb login`, set WANDB_API_KEY, or set "
            "WANDB_MODE=offline to log to a local folder (`wandb sync` uploads it later)"
        )


@contextlib.contextmanager
def _environ(values: dict[str, str]):
    """Set environment variables for the block, unless the user set them already."""
    added = {k: v for k, v in values.items() if k not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


def point_tensorboard_at(trainer, folder: Path) -> None:
    """Write TensorBoard event files to `folder` (OUTPUT_DIR/runs) rather than into the
    checkpoint folder, which is pruned and may live on another volume."""
    from transformers.integrations import TensorBoardCallback

    for callback in trainer.callback_handler.callbacks:
        if isinstance(callback, TensorBoardCallback) and callback.logging_dir is None:
            callback.logging_dir = str(folder)

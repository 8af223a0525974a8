"""Nothing lost: whole checkpoints only, a checkpoint on SIGTERM/SIGINT, and resume decisions.

A checkpoint folder is *whole* when its `trainer_state.json` parses and names the folder's own
step: the Trainer writes that file last, after the weights, optimizer, scheduler, scaler and RNG
states, so a process killed mid-save (even by SIGKILL) leaves a folder that fails this check.
Such folders are never resumed from, and are removed before a resume so that the step is saved
afresh.
"""

from __future__ import annotations

import json
import logging
import shutil
import signal
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from bertft.errors import BertftError
from bertft.files import write_json
from bertft.same_run import changed_settings
from bertft.signals import StopRequest, stop_on_signals

log = logging.getLogger(__name__)

RUN_FILE = "run.json"  # what the checkpoints were made from; a resume must match it


# --- finding checkpoints -----------------------------------------------------------------------


def _step(folder: Path) -> int:
    try:
        return int(folder.name.rsplit("-", 1)[1])
    except (IndexError, ValueError):
        return -1


def is_whole(folder: Path) -> bool:
    try:
        state = json.loads((folder / "trainer_state.json").read_text())
    except (OSError, ValueError):
        return False
    return state.get("global_step") == _step(folder)


def checkpoints_in(folder: Path) -> list[Path]:
    """checkpoint-N folders, newest step first."""
    if not folder.is_dir():
        return []
    found = [p for p in folder.glob("checkpoint-*") if p.is_dir() and _step(p) >= 0]
    return sorted(found, key=_step, reverse=True)


def last_whole_checkpoint(folder: Path) -> Path | None:
    return next((p for p in checkpoints_in(folder) if is_whole(p)), None)


def remove_partial_checkpoints(folder: Path) -> list[Path]:
    partial = [p for p in checkpoints_in(folder) if not is_whole(p)]
    for path in partial:
        shutil.rmtree(path, ignore_errors=True)
    return partial


# --- deciding between fresh start and resume ---------------------------------------------------


def prepare_run(
    out: Path,
    checkpoints: Path,
    resume: str,
    overwrite: bool,
    run: dict[str, Any],
    finished_marker: str,
) -> Path | None:
    """Refuse to mix with another run's files, else return the checkpoint to resume from
    (None: start fresh). Changes files: under torchrun, rank 0 alone calls it (`main_decides`)."""
    if resume not in ("auto", "never"):
        chosen = Path(resume)
        if not is_whole(chosen):
            raise BertftError(
                f"--resume {resume}: not a whole checkpoint folder "
                f"(its trainer_state.json is missing, unreadable or for another step)"
            )
        check_same_run(checkpoints, run)
        return chosen

    occupied = any(p.exists() and any(p.iterdir()) for p in {out, checkpoints} if p.is_dir())
    finished = (out / finished_marker).exists()
    if occupied and resume == "auto" and not finished and (checkpoints / RUN_FILE).exists():
        # Our own unfinished run: continue it, or restart it if it never reached a checkpoint.
        check_same_run(checkpoints, run)
        for path in remove_partial_checkpoints(checkpoints):
            log.warning("bertft: removed incomplete checkpoint %s", path)
        return last_whole_checkpoint(checkpoints)
    if occupied:
        if not overwrite:
            what = "a finished run" if finished else "files of another run"
            raise BertftError(
                f"{out if out.exists() else checkpoints} already holds {what}; "
                f"pass --overwrite_output_dir to replace it or choose another "
                f"--output_dir"
            )
        for path in {out, checkpoints}:
            shutil.rmtree(path, ignore_errors=True)
    checkpoints.mkdir(parents=True, exist_ok=True)
    write_json(checkpoints / RUN_FILE, run)
    return None


def check_same_run(checkpoints: Path, run: dict[str, Any]) -> None:
    path = checkpoints / RUN_FILE
    if not path.exists():
        return
    # The schedule's settings by their own names (learning_rate), others' under their key.
    changed = changed_settings(json.loads(path.read_text()), run, by_own_name=("schedule",))
    if changed:
        raise BertftError(
            f"{checkpoints}: its checkpoints come from a different run ({'; '.join(changed)}); "
            f"pass --resume never --overwrite_output_dir to start over"
        )


# --- saving on signals and on a schedule -------------------------------------------------------


class SaveGuard(TrainerCallback):
    """Asks the Trainer for a checkpoint after the current optimizer step when a SIGTERM/SIGINT
    arrives (then stops it), every `save_steps` steps, and every `save_every_minutes`."""

    def __init__(self, save_steps: int | None = None, save_every_minutes: float | None = None):
        self.save_steps = save_steps
        self.save_seconds = save_every_minutes * 60 if save_every_minutes else None
        self.stop = StopRequest()  # replaced by the one `installed` listens with
        self.last_save = time.monotonic()

    @contextmanager
    def installed(self):
        with stop_on_signals(
            "saving a checkpoint after this step, then stopping",
            "still saving the checkpoint; please wait",
        ) as self.stop:
            yield self

    @property
    def signum(self) -> int | None:
        return self.stop.signum

    def _stop_requested(self, device) -> bool:
        flag = self.signum is not None
        import torch
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            # Every rank must stop at the same step, or the save's collectives would hang.
            t = torch.tensor([1.0 if flag else 0.0], device=device)
            dist.all_reduce(t, op=dist.ReduceOp.MAX)
            flag = bool(t.item())
            if flag and self.signum is None:  # another rank's signal
                self.stop.signum = signal.SIGTERM
        return flag

    def on_step_end(self, args, state, control, **kwargs):
        if self._stop_requested(args.device):
            control.should_training_stop = True
        due_by_steps = self.save_steps and state.global_step % self.save_steps == 0
        due_by_time = self.save_seconds and time.monotonic() - self.last_save >= self.save_seconds
        if control.should_training_stop or due_by_steps or due_by_time:
            control.should_save = True
        return control

    def on_save(self, args, state, control, **kwargs):
        self.last_save = time.monotonic()


class StepSeeder(TrainerCallback):
    """Reseeds the RNGs (dropout) at every optimizer step from (seed, step) alone. A resumed run
    then draws exactly the numbers an uninterrupted one would, whatever consumed random numbers
    during the restart (model building, data loader set-up): restoring the saved RNG state alone
    left resumed runs measurably off here."""

    def __init__(self, seed: int):
        self.seed = seed

    def on_step_begin(self, args, state, control, **kwargs):
        import torch

        torch.manual_seed(self.seed * 1_000_003 + state.global_step)

"""What training shows while it runs: one bar for the steps, one line per log event.

Replaces the Trainer's ProgressCallback, which prints each log as a Python dict of quoted
strings and nests an evaluation bar in the training bar (its cursor-up escapes, ESC [A, land
in logs written to files). Here: on a terminal one bar that log lines are written above; in a
file no bar, a progress line every `every` seconds; a readable line per loss log, one per
evaluation, one at the end. Lines go through `logging` (logger `bertft.training.progress`).
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

from transformers import TrainerCallback

log = logging.getLogger(__name__)

# Metric names as a line shows them, in the order shown (those present).
SHOWN = {
    "accuracy": "accuracy",
    "f1_macro": "macro F1",
    "f1_micro": "micro F1",
    "subset_accuracy": "subset accuracy",
    "rmse": "RMSE",
    "pearson": "Pearson",
}
NAMES = {
    **SHOWN,
    "f1_weighted": "weighted F1",
    "precision_macro": "macro precision",
    "recall_macro": "macro recall",
    "hamming_loss": "Hamming loss",
    "mse": "MSE",
    "mae": "MAE",
    "spearman": "Spearman",
    "r2": "R²",
    "loss": "loss",
}


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if 1e-3 <= abs(value) < 1e4 else f"{value:.3g}"
    return str(value)


def evaluation_line(metrics: dict[str, Any], best: str, epochs: str, is_best: bool) -> str:
    """`epoch 1 of 3: validation loss 0.3812, accuracy 0.9219, macro F1 0.9010 (best so far)`:
    the loss, the usual headline metrics and the one that picks the best checkpoint."""
    values = {k.removeprefix("eval_"): v for k, v in metrics.items() if k.startswith("eval_")}
    keys = ["loss", *(k for k in SHOWN if k in values)]
    if best in values and best not in keys:
        keys.append(best)
    shown = ", ".join(f"{NAMES.get(k, k)} {_number(values[k])}" for k in keys if k in values)
    return f"{epochs}: validation {shown}" + (" (best so far)" if is_best else "")


def loss_line(logs: dict[str, Any], step: str) -> str:
    """`step 50 of 411 (epoch 0.36): loss 1.2345, learning rate 9.1e-05, grad norm 3.21`."""
    parts = [f"loss {_number(logs['loss'])}"]
    if "learning_rate" in logs:
        parts.append(f"learning rate {logs['learning_rate']:.3g}")
    if "grad_norm" in logs:
        parts.append(f"grad norm {_number(logs['grad_norm'])}")
    return f"{step}: " + ", ".join(parts)


class TrainingProgress(TrainerCallback):
    """The run's progress on stderr, from the main process only."""

    def __init__(self, every: float = 30.0):
        self.every = every
        self.bar = None
        self.best: float | None = None
        self.last_line = 0.0

    # --- the bar, or lines in a file ---------------------------------------------------------

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        self.started = self.last_line = time.perf_counter()
        self.first_step = state.global_step  # a resumed run starts part-way
        if sys.stderr.isatty():
            from tqdm.auto import tqdm

            self.bar = tqdm(
                total=state.max_steps,
                initial=state.global_step,
                file=sys.stderr,
                dynamic_ncols=True,
                unit="step",
            )

    def on_step_end(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)
            return
        now = time.perf_counter()
        if now - self.last_line >= self.every:
            self.last_line = now
            done = state.global_step - self.first_step
            rate = done / (now - self.started)
            left = (state.max_steps - state.global_step) / rate if rate else 0.0
            log.info("%s, %.2f steps/s, %s left", self._step(state), rate, _duration(left))

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    # --- one line per log event --------------------------------------------------------------

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not state.is_world_process_zero or not logs:
            return
        if any(k.startswith("eval_") for k in logs):
            line = evaluation_line(logs, args.metric_for_best_model, self._epoch(args, state),
                                   self._improved(args, logs))  # fmt: skip
        elif "loss" in logs:
            line = loss_line(logs, self._step(state))
        elif "train_runtime" in logs:
            line = (
                f"trained {state.global_step} steps in {_duration(logs['train_runtime'])} "
                f"({logs.get('train_samples_per_second', 0):.1f} samples/s), "
                f"mean loss {_number(logs.get('train_loss', float('nan')))}"
            )
        else:
            line = ", ".join(f"{k} {_number(v)}" for k, v in logs.items() if k != "total_flos")
        self._say(line)

    def _improved(self, args, logs: dict[str, Any]) -> bool:
        value = logs.get(f"eval_{args.metric_for_best_model}")
        if not isinstance(value, (int, float)):
            return False
        better = self.best is None or (
            value > self.best if args.greater_is_better else value < self.best
        )
        if better:
            self.best = value
        return better

    def _say(self, line: str) -> None:
        if self.bar is None:
            log.info(line)
            return
        self.bar.clear()  # the line goes above the bar, which is drawn again below it
        log.info(line)
        self.bar.refresh()

    @staticmethod
    def _step(state) -> str:
        return f"step {state.global_step} of {state.max_steps} (epoch {state.epoch or 0:.2f})"

    @staticmethod
    def _epoch(args, state) -> str:
        epoch = state.epoch or 0
        shown = f"{epoch:.0f}" if abs(epoch - round(epoch)) < 0.01 else f"{epoch:.2f}"
        return f"epoch {shown} of {args.num_train_epochs:g}"


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}:{seconds:02d} min"
    return f"{minutes // 60}:{minutes % 60:02d} h"

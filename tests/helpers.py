"""What the tests share that is not a fixture: the topic data, the tiny model's training flags,
the slowed `bertft` subprocess and the interrupted-run helpers.

Test modules import from here (and from task_data, serve_helpers, architectures, browser),
never from conftest.py or from one another: a test file can then move or be run alone.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

# Three topics, each with its own words: a tiny model can learn them in a few epochs, so a
# test can ask for real accuracy rather than "it ran".
TOPICS = {
    "sports": [
        "ball",
        "goal",
        "team",
        "match",
        "score",
        "player",
        "coach",
        "league",
        "win",
        "stadium",
    ],
    "weather": ["rain", "sun", "cloud", "wind", "storm", "snow", "cold", "warm", "forecast", "sky"],
    "food": [
        "bread",
        "cheese",
        "soup",
        "pasta",
        "salad",
        "apple",
        "cake",
        "dinner",
        "cook",
        "taste",
    ],
}
FILLER = ["the", "a", "of", "and", "today", "very", "really", "some"]


def topic_frame(n: int = 240, seed: int = 0) -> pd.DataFrame:
    """`n` short texts, balanced over the three topics, columns text/label."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = list(TOPICS)[i % len(TOPICS)]
        words = rng.choices(TOPICS[label], k=rng.randint(2, 5)) + rng.choices(FILLER, k=2)
        rng.shuffle(words)
        rows.append({"text": " ".join(words), "label": label})
    return pd.DataFrame(rows)


HOOKS = Path(__file__).parent / "hooks"


def slowed_env(**hooks: float | str) -> dict[str, str]:
    """The environment for a `bertft` subprocess slowed or watched by tests/hooks/sitecustomize.py:
    step_seconds=, save_seconds=, chunk_seconds=, step_file= (none given: the plain environment,
    hub off)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    if hooks:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HOOKS), env.get("PYTHONPATH")]))
        env |= {f"BERTFT_TEST_{k.upper()}": str(v) for k, v in hooks.items()}
    return env


def tiny_train_args(model: Path, data: Path | str, out: Path, *extra: str) -> list[str]:
    """`bertft train` flags that make the tiny model learn the topics in a few seconds."""
    return [
        "train",
        "--model_id",
        str(model),
        "--data",
        str(data),
        "--output_dir",
        str(out),
        "--learning_rate",
        "5e-3",
        "--epochs",
        "4",
        "--per_device_train_batch_size",
        "16",
        "--warmup_ratio",
        "0",
        "--logging_steps",
        "5",
        "--precision",
        "fp32",
        # The topics are 80 texts a class: the few-shot recipe's by default (test_few_shot.py);
        # these tests are of the standard one's validation split and best epoch.
        "--recipe",
        "standard",
        *extra,
    ]


# --- interrupted runs: real `bertft train` processes, signalled at a step they report ----------

RESUME_FLAGS = ("--epochs", "5", "--save_steps", "7")  # 12 steps an epoch on 240 texts: 60
TIMING = ("samples_per_second", "seconds")


def resume_command(model: Path, data: Path, out: Path, *flags: str) -> list[str]:
    args = tiny_train_args(model, data, out, *RESUME_FLAGS, *flags)
    return [sys.executable, "-m", "bertft", *args]


def step_file(out: Path) -> Path:
    """Where the test hook writes a run's last finished optimizer step (beside the output, so
    that the run's own folder holds only what bertft writes)."""
    return out.with_name(out.name + ".step")


def start_run(model, data, out, *flags: str, **hooks: float) -> subprocess.Popen:
    """A `bertft train` process; with hooks it also reports its steps to `step_file(out)`."""
    if hooks:
        step_file(out).unlink(missing_ok=True)
        hooks = {**hooks, "step_file": step_file(out)}
    return subprocess.Popen(
        resume_command(model, data, out, *flags),
        env=slowed_env(**hooks),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen) -> tuple[int, str]:
    _, err = proc.communicate(timeout=300)
    return proc.returncode, err


def reached_step(out: Path) -> int:
    """The last optimizer step the run reported (0 before its first)."""
    try:
        return int(step_file(out).read_text())
    except (FileNotFoundError, ValueError):
        return 0


def wait_for_step(out: Path, proc: subprocess.Popen, step: int, timeout: float = 180) -> int:
    """Until the run has finished optimizer step `step` (an event the hook writes, not a guess
    at how long setup takes); the step it reported."""
    deadline = time.monotonic() + timeout
    while (reached := reached_step(out)) < step:
        assert proc.poll() is None, (
            f"the run ended before step {step}: {proc.stderr.read()[-2000:]}"
        )
        assert time.monotonic() < deadline, f"step {step} never came (at {reached})"
        time.sleep(0.01)
    return reached


def interrupt_at_step(model, data, out, *flags: str, step: int, step_seconds: float = 0.05) -> str:
    """Start a run, SIGTERM it once it has finished optimizer step `step`, and check it stopped
    as a signalled run does (exit 143); its stderr. `step_seconds` paces the steps so that the
    signal lands before the run could end."""
    proc = start_run(model, data, out, *flags, step_seconds=step_seconds)
    wait_for_step(out, proc, step)
    proc.send_signal(signal.SIGTERM)
    code, err = finish(proc)
    assert code == 143, err[-2000:]
    return err


def weights(out: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(out / "model.safetensors")


def validation_metrics(out: Path) -> dict:
    metrics = json.loads((out / "metrics.json").read_text())["validation"]
    return {k: v for k, v in metrics.items() if not k.endswith(TIMING)}


def assert_same_result(out: Path, reference: Path) -> None:
    """The same weights, bit for bit, and the same validation metrics as the reference run."""
    ours, theirs = weights(out), weights(reference)
    assert ours.keys() == theirs.keys()
    for name in ours:
        assert ours[name].equal(theirs[name]), f"{name} differs from the uninterrupted run"
    assert validation_metrics(out) == validation_metrics(reference)

"""Interrupted runs lose nothing: real `bertft train` processes, real SIGTERM and SIGKILL.

Each interrupted run is resumed with the same command and must end with the same weights,
bit for bit (fp32 on CPU), and the same validation metrics as an uninterrupted run.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

import pandas as pd
import pytest
from helpers import (
    RESUME_FLAGS,
    assert_same_result,
    finish,
    interrupt_at_step,
    reached_step,
    start_run,
    tiny_train_args,
    topic_frame,
    wait_for_step,
)

from bertft.cli import main
from bertft.training.checkpoint import last_whole_checkpoint

pytestmark = pytest.mark.unit


# Seeded: a failure at one interruption step can be run again at that same step.
MOMENTS = random.Random(16)


def _saved_step(out: Path) -> int:
    return int(last_whole_checkpoint(out / "checkpoints").name.split("-")[1])


@pytest.fixture(scope="module")
def setup(tiny_model, tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    data = root / "topics.csv"
    topic_frame(240).to_csv(data, index=False)
    reference = root / "reference"
    code, err = finish(start_run(tiny_model, data, reference))
    assert code == 0, err[-2000:]
    return tiny_model, data, root, reference


@pytest.mark.trains
@pytest.mark.subprocess
def test_sigterm_checkpoints_exits_143_and_resumes_exactly(setup):
    model, data, root, reference = setup
    out = root / "sigterm"
    step = MOMENTS.randint(8, 40)  # of 60, past the first periodic checkpoint (step 7)
    err = interrupt_at_step(model, data, out, step=step)
    assert "SIGTERM received; saving a checkpoint after this step" in err
    assert "Run the same command again to resume" in err
    assert not (out / "metrics.json").exists()
    # The checkpoint is the step the signal landed in, not the last periodic one before it.
    assert step <= _saved_step(out) < 60, err[-2000:]

    code, err = finish(start_run(model, data, out))
    assert code == 0, err[-2000:]
    assert "resuming from" in err
    assert_same_result(out, reference)


@pytest.mark.trains
@pytest.mark.subprocess
def test_class_weighted_run_resumes_exactly_and_only_with_its_weights(tiny_model, tmp_path, capsys):
    frame = topic_frame(240)
    counts = {"food": 80, "sports": 80, "weather": 20}  # auto weights 0.5, 0.5, 2.0
    frame = pd.concat(frame[frame.label == label].head(n) for label, n in counts.items())
    data = tmp_path / "imbalanced.csv"
    frame.sample(frac=1, random_state=0).to_csv(data, index=False)
    weighted = ("--class_weights", "auto")
    reference = tmp_path / "reference"
    code, err = finish(start_run(tiny_model, data, reference, *weighted))
    assert code == 0, err[-2000:]

    out = tmp_path / "interrupted"  # 9 steps an epoch: stopped in the second
    interrupt_at_step(tiny_model, data, out, *weighted, step=MOMENTS.randint(8, 17))

    # Resuming with another loss would mix two trainings in one model: refused, whether the
    # weights are dropped or changed (a weights file edited between the two runs).
    args = tiny_train_args(tiny_model, data, out, *RESUME_FLAGS)
    assert main(args) == 2
    assert "class_weights: {'food': 0.5, 'sports': 0.5, 'weather': 2.0} then, None now" in (
        capsys.readouterr().err
    )
    edited = tmp_path / "weights.json"
    edited.write_text('{"food": 0.5, "sports": 0.5, "weather": 3.0}')
    assert main([*args, "--class_weights", str(edited)]) == 2
    assert "class_weights.weather: 2.0 then, 3.0 now" in capsys.readouterr().err

    code, err = finish(start_run(tiny_model, data, out, *weighted))
    assert code == 0, err[-2000:]
    assert "resuming from" in err
    assert_same_result(out, reference)


def _partial_checkpoints(out: Path) -> list[Path]:
    return [
        p
        for p in (out / "checkpoints").glob("checkpoint-*")
        if not (p / "trainer_state.json").exists()
    ]


@pytest.mark.trains
@pytest.mark.subprocess
def test_sigkill_at_random_moments_even_mid_save_never_corrupts(setup):
    model, data, root, reference = setup
    out = root / "sigkill"
    stderr = ""
    # The first kill lands inside a checkpoint write, for certain; the next two at seeded steps
    # (one of them may fall in a save too: the hook reports a step before its save starts).
    first = MOMENTS.randint(8, 30)
    moments = [None, first, MOMENTS.randint(first + 1, 55)]
    for step in moments:
        # Each save pauses 0.6 s half-written (weights and optimizer on disk, no trainer state).
        proc = start_run(model, data, out, step_seconds=0.03, save_seconds=0.6)
        if step is None:
            while not _partial_checkpoints(out):
                assert proc.poll() is None, "finished without a checkpoint write to kill"
                time.sleep(0.01)
        else:
            wait_for_step(out, proc, step)
        proc.kill()
        stderr += proc.communicate()[1]
        if step is None:
            assert _partial_checkpoints(out), "the kill should have left a half-written folder"
        else:
            assert reached_step(out) < 60
        assert not (out / "metrics.json").exists()
    code, err = finish(start_run(model, data, out))
    assert code == 0, err[-2000:]
    assert "removed incomplete checkpoint" in stderr + err
    assert_same_result(out, reference)


@pytest.mark.trains
def test_resume_refuses_a_changed_label_map(setup, tmp_path, capsys):
    model, _, _, _ = setup
    data = tmp_path / "d.csv"
    frame = topic_frame(60)
    frame.to_csv(data, index=False)
    out = tmp_path / "run"
    assert main(tiny_train_args(model, data, out, "--epochs", "1")) == 0
    (out / "metrics.json").unlink()  # as if it had been interrupted
    frame["label"] = frame.label.replace({"food": "cooking"})
    frame.to_csv(data, index=False)
    assert main(tiny_train_args(model, data, out, "--epochs", "1")) == 2
    err = capsys.readouterr().err
    assert "labels: ['food', 'sports', 'weather'] then, ['cooking', 'sports', 'weather'] now" in err


@pytest.mark.trains
def test_resume_refuses_a_changed_schedule_and_a_record_without_one(setup, tmp_path, capsys):
    """A checkpoint restores the optimizer and the scheduler's base rate: a new learning rate
    would be ignored (and recorded as used), so it is refused. A run.json without a schedule
    (as development versions before 0.1 wrote) is another run's, not one to resume unchecked."""
    model, _, _, _ = setup
    data = tmp_path / "d.csv"
    topic_frame(60).to_csv(data, index=False)
    out = tmp_path / "run"
    assert main(tiny_train_args(model, data, out, "--epochs", "1")) == 0
    (out / "metrics.json").unlink()  # as if it had been interrupted
    assert main(tiny_train_args(model, data, out, "--epochs", "1", "--learning_rate", "1e-3")) == 2
    assert "learning_rate: 0.005 then, 0.001 now" in capsys.readouterr().err
    run_file = out / "checkpoints" / "run.json"
    run = json.loads(run_file.read_text())
    del run["schedule"]
    run_file.write_text(json.dumps(run))
    assert main(tiny_train_args(model, data, out, "--epochs", "1")) == 2
    assert "schedule: None then, {'learning_rate': 0.005" in capsys.readouterr().err


def test_partial_checkpoint_is_never_picked(tmp_path):
    from bertft.training.checkpoint import last_whole_checkpoint

    for step, state in ((10, {"global_step": 10}), (20, {"global_step": 20}), (30, None)):
        folder = tmp_path / f"checkpoint-{step}"
        folder.mkdir()
        if state:
            (folder / "trainer_state.json").write_text(json.dumps(state))
    (tmp_path / "checkpoint-20" / "trainer_state.json").write_text('{"global_st')  # cut short
    assert last_whole_checkpoint(tmp_path) == tmp_path / "checkpoint-10"


@pytest.mark.trains
def test_gradient_accumulation_matches_the_bigger_batch(tiny_model, tmp_path):
    """Batch 16 and batch 4 x 4 accumulation: the same loss curve (dropout off)."""
    from transformers import BertConfig, BertModel

    model = tmp_path / "no-dropout"
    config = BertConfig.from_pretrained(
        tiny_model, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0
    )
    BertModel.from_pretrained(tiny_model, config=config).save_pretrained(model)
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json"):
        (model / name).write_bytes((tiny_model / name).read_bytes())
    data = tmp_path / "d.csv"
    topic_frame(240).to_csv(data, index=False)

    def run(out: Path, *flags: str) -> tuple[list[float], float]:
        args = tiny_train_args(model, data, out, "--epochs", "1", "--logging_steps", "1", *flags)
        assert main(args) == 0
        metrics = json.loads((out / "metrics.json").read_text())
        losses = [h["loss"] for h in metrics["history"] if "loss" in h]
        return losses, metrics["validation"]["loss"]

    big, big_eval = run(tmp_path / "big", "--per_device_train_batch_size", "16")
    accumulated, accumulated_eval = run(
        tmp_path / "acc", "--per_device_train_batch_size", "4", "--gradient_accumulation_steps", "4"
    )
    assert len(big) == len(accumulated) == 12
    # Padding differs per micro-batch, so float rounding differs: equal to within 2%, where a
    # wrong loss normalisation (stock transformers 5.23 multiplies it by 4 here) is off by 4x.
    assert accumulated == pytest.approx(big, rel=2e-2)
    assert accumulated_eval == pytest.approx(big_eval, rel=2e-2)


@pytest.mark.trains
def test_checkpoint_dir_apart_and_resume_from_a_named_checkpoint(tiny_model, tmp_path, capsys):
    data = tmp_path / "d.csv"
    topic_frame(60).to_csv(data, index=False)
    out, volume = tmp_path / "run", tmp_path / "volume"
    args = tiny_train_args(tiny_model, data, out, "--epochs", "2", "--checkpoint_dir", str(volume))
    assert main(args) == 0
    assert not (out / "checkpoints").exists()
    first = min(volume.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    (out / "metrics.json").unlink()  # as if interrupted after the first epoch
    assert main([*args, "--resume", str(first)]) == 0
    assert f"resuming from {first}" in capsys.readouterr().err
    assert main([*args, "--resume", str(tmp_path)]) == 2
    assert "not a whole checkpoint folder" in capsys.readouterr().err

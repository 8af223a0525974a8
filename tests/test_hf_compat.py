"""Users arriving from Hugging Face: run_classification.py's command lines, TrainingArguments
settings passed through to the Trainer (and held to on resume), bertft's own ones refused."""

from __future__ import annotations

import json

import pytest
import torch
import yaml
from helpers import tiny_train_args, topic_frame

from bertft.cli import main

pytestmark = pytest.mark.unit


def _trainer_args(out):
    """The TrainingArguments the Trainer ran with, as it saved them in its checkpoint."""
    checkpoint = max((out / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name[11:]))
    return torch.load(checkpoint / "training_args.bin", weights_only=False)


@pytest.mark.trains
def test_a_run_classification_command_line_trains(tiny_model, tmp_path, capsys):
    data = tmp_path / "train.csv"
    topic_frame(240).to_csv(data, index=False)
    out = tmp_path / "ag_news"
    # transformers' examples/pytorch/text-classification README, with a local --train_file in
    # place of --dataset_name ag_news, the tiny model and sizes it learns in seconds.
    command = [
        *("--model_name_or_path", str(tiny_model)),
        *("--train_file", str(data)),
        "--shuffle_train_dataset",
        *("--metric_name", "accuracy"),
        *("--text_column_name", "text"),
        *("--text_column_delimiter", "\\n"),
        *("--label_column_name", "label"),
        "--do_train",
        "--do_eval",
        *("--max_seq_length", "32"),
        *("--per_device_train_batch_size", "16"),
        *("--learning_rate", "5e-3"),
        *("--num_train_epochs", "6"),
        *("--output_dir", f"{out}/"),
        *("--warmup_steps", "0"),  # a TrainingArguments setting, passed through
    ]
    # In process: the flags' translation is what is tested here; test_cli.py runs `bertft` as
    # a real process end to end.
    assert main(["train", *command]) == 0
    assert "do_train: bertft always trains" in capsys.readouterr().err  # said, not dropped
    saved = yaml.safe_load((out / "train_config.yaml").read_text())
    assert (saved["model_id"], saved["data"]) == (str(tiny_model), str(data))
    assert (saved["epochs"], saved["train_max_length"], saved["learning_rate"]) == (6.0, 32, 5e-3)
    assert "do_train" not in saved and "metric_name" not in saved
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["validation"]["accuracy"] >= 0.9


@pytest.mark.trains
def test_training_arguments_reach_the_trainer_and_resume_holds_to_them(
    tiny_model, tmp_path, capsys
):
    data = tmp_path / "d.csv"
    topic_frame(60).to_csv(data, index=False)
    out = tmp_path / "run"
    passed = ["--lr_scheduler_type", "cosine", "--label_smoothing_factor", "0.1"]
    args = tiny_train_args(tiny_model, data, out, "--epochs", "2", "--logging_steps", "1", *passed)
    assert main(args) == 0
    trainer_args = _trainer_args(out)
    assert trainer_args.lr_scheduler_type == "cosine"
    assert trainer_args.label_smoothing_factor == 0.1
    assert trainer_args.optim == "adamw_torch_fused"  # bertft's defaults stay where not given
    saved = yaml.safe_load((out / "train_config.yaml").read_text())
    assert (saved["lr_scheduler_type"], saved["label_smoothing_factor"]) == ("cosine", 0.1)
    # The schedule the Trainer ran is cosine: slow, fast, slow decrements (linear's are equal).
    history = json.loads((out / "metrics.json").read_text())["history"]
    rates = [h["learning_rate"] for h in history if "learning_rate" in h]
    steps = [a - b for a, b in zip(rates, rates[1:], strict=False)]
    assert len(rates) == 6 and min(steps) > 0 and max(steps) > 1.5 * min(steps), rates

    (out / "metrics.json").unlink()  # as if interrupted
    capsys.readouterr()
    changed = tiny_train_args(tiny_model, data, out, "--epochs", "2", "--logging_steps", "1")
    changed += passed[:2]
    changed += ["--label_smoothing_factor", "0.2"]
    assert main(changed) == 2
    err = capsys.readouterr().err
    assert "training_arguments.label_smoothing_factor: 0.1 then, 0.2 now" in err
    # train_config.yaml takes the run back, pass-through settings included: it resumes.
    assert main(["train", "--config", str(out / "train_config.yaml")]) == 0
    assert "resuming from" in capsys.readouterr().err


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--save_strategy", "steps"], "save_strategy is set by bertft: bertft saves every epoch"),
        (["--load_best_model_at_end", "false"], "use --metric_for_best_model"),
        (
            ["--resume_from_checkpoint", "x"],
            "resume_from_checkpoint is set by bertft: use --resume",
        ),
        (["--lr_scheduler_type", "cosinus"], "invalid choice: 'cosinus'"),
        (["--lr_schedular_type", "cosine"], "unknown flag --lr_schedular_type (did you mean"),
        (["--num_train_epochs", "1", "--epochs", "2", "--fp16", "--bf16"], "bf16 and fp16"),
        (["--do_train", "false"], "do_train false: bertft always trains"),
    ],
)
def test_settings_bertft_owns_and_bad_values_are_refused(tmp_path, capsys, flags, message):
    assert main(["train", "--data", str(tmp_path / "none.csv"), *flags]) == 2
    assert message in capsys.readouterr().err


def test_yaml_takes_aliases_and_training_arguments_checked_by_transformers(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text("num_train_epochs: 1\nmodel_name_or_path: nowhere\nwarmup_steps: -5\n")
    data = tmp_path / "d.csv"
    topic_frame(30).to_csv(data, index=False)
    assert main(["train", "--config", str(config), "--data", str(data)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bertft: error: TrainingArguments refused the settings")
    assert "(warmup_steps): Got warmup_steps = -5, Expected value warmup_steps >= 0" in err


def test_help_lists_bertft_first_then_points_to_the_pass_through(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    assert out.index("--model_id") < out.index("TrainingArguments setting passes through")
    assert "--lr_scheduler_type" not in out.split("passes through")[0]
    assert main(["train", "--help_training_arguments"]) == 0
    listing = capsys.readouterr().out
    assert "--lr_scheduler_type (default: linear)" in listing
    assert "--label_smoothing_factor" in listing
    assert "  save_strategy: bertft saves every epoch" in listing
    assert "--learning_rate" not in listing  # bertft's own

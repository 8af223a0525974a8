"""Settings: YAML and flags have one shape; wrong keys and types are named."""

from __future__ import annotations

import pytest

from bertft.cli import main
from bertft.config import TrainConfig, train_config_from
from bertft.errors import BertftError


def test_flat_keys_fill_both_groups_and_coerce_yaml_numbers():
    cfg = train_config_from(
        {
            "epochs": 2,
            "learning_rate": "2e-5",
            "data": "x.csv",
            "max_train_samples": 100,
            "strict": True,
        }
    )
    assert cfg.epochs == 2.0 and isinstance(cfg.epochs, float)
    assert cfg.learning_rate == 2e-5
    assert (cfg.data.data, cfg.data.max_train_samples, cfg.data.strict) == ("x.csv", 100, True)
    assert train_config_from(cfg.to_dict()) == cfg  # what train_config.yaml holds round-trips


def test_unknown_keys_wrong_types_and_bad_values_are_named():
    with pytest.raises(BertftError, match="run.yaml: unknown setting"):
        train_config_from({"epoch": 3}, "run.yaml")
    with pytest.raises(BertftError, match="'per_device_train_batch_size' must be int, got 'big'"):
        train_config_from({"per_device_train_batch_size": "big"})
    with pytest.raises(BertftError, match="--learning_rate must be positive"):
        train_config_from({"learning_rate": 0})
    with pytest.raises(BertftError, match="--metric_for_best_model must be"):
        train_config_from({"metric_for_best_model": "f2"})


def test_default_output_dir_is_named_after_the_data():
    assert str(TrainConfig().resolved_output_dir()) == "runs/trec"
    assert (
        str(train_config_from({"data": "data/reviews.csv"}).resolved_output_dir()) == "runs/reviews"
    )


def test_cli_reports_bad_config_file_in_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: [1, 2\n")
    assert main(["train", "--config", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"bertft: error: {bad}: not valid YAML")
    assert main(["train", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "config file not found" in capsys.readouterr().err

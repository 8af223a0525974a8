"""Settings: YAML and flags have one shape; wrong keys and types are named."""

from __future__ import annotations

import pytest

from bertft.cli import main
from bertft.config import TrainConfig, train_config_from
from bertft.errors import BertftError

pytestmark = pytest.mark.unit


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
    with pytest.raises(BertftError, match="learning_rate must be positive"):
        train_config_from({"learning_rate": 0})
    with pytest.raises(BertftError, match="metric_for_best_model must be"):
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


def test_hugging_face_names_are_aliases_in_yaml_and_flags(tmp_path):
    from bertft.config import normalize_keys

    cfg = train_config_from(
        normalize_keys(
            {
                "model_name_or_path": "m",
                "num_train_epochs": 2,
                "max_seq_length": 64,
                "train_file": "t.csv",
                "validation_file": "v.csv",
                "text_column_name": "sentence",
                "label_column_name": "y",
                "hub_model_id": "me/m",
                "bf16": True,
            },
            "run.yaml",
        )
    )
    assert (cfg.model_id, cfg.epochs, cfg.train_max_length) == ("m", 2.0, 64)
    assert (cfg.data.data, cfg.data.validation_data) == ("t.csv", "v.csv")
    assert (cfg.data.text_column, cfg.data.label_column) == ("sentence", "y")
    assert (cfg.repository_id, cfg.precision) == ("me/m", "bf16")
    assert train_config_from({"fp16": "true"}).precision == "fp16"
    assert train_config_from({"bf16": False}).precision == "fp32"  # HF: neither switch -> fp32
    with pytest.raises(BertftError, match="'num_train_epochs' and 'epochs' are the same setting"):
        train_config_from({"epochs": 1, "num_train_epochs": 2})
    with pytest.raises(BertftError, match="bf16 and fp16 are both on"):
        train_config_from({"bf16": True, "fp16": True})


def test_help_shows_one_name_per_setting_with_its_aliases(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    assert "--epochs X" in out
    assert "--num_train_epochs X" not in out  # listed as an alias, not as a second flag
    assert "also --num_train_epochs" in " ".join(out.split())
    assert "also --model_name_or_path" in " ".join(out.split())


def test_other_commands_refuse_missing_and_conflicting_settings(tmp_path, capsys):
    assert main(["predict", "--model", str(tmp_path)]) == 2
    assert "give texts to label: text (--text, repeatable) or input" in capsys.readouterr().err
    assert main(["predict", "--model", str(tmp_path), "--text", "a", "--top_k", "0"]) == 2
    assert "top_k must be at least 1, got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["evaluate", "--model", str(tmp_path)])  # --data is required
    assert "--data" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["serve", "--no_such_flag", "1"])
    assert "unrecognized arguments: --no_such_flag 1" in capsys.readouterr().err


def test_serve_defaults_come_from_the_environment(monkeypatch):
    from bertft.flags import env_defaults, settings_from
    from bertft.settings import ServeSettings

    monkeypatch.setenv("BERTFT_PORT", "9001")
    monkeypatch.setenv("BERTFT_MODEL", "/models/x")
    s = settings_from(ServeSettings, {**env_defaults(ServeSettings), "model": "/flag/wins"})
    assert (s.port, s.model) == (9001, "/flag/wins")
    monkeypatch.setenv("BERTFT_PORT", "eighty")
    with pytest.raises(BertftError, match=r"\$BERTFT_PORT: 'port' must be int, got 'eighty'"):
        env_defaults(ServeSettings)


def test_two_text_column_names_are_a_pair_and_more_are_refused():
    """run_classification.py takes `--text_column_names a,b`; here two names are a pair."""
    cfg = train_config_from({"text_column_names": "question1,question2"})
    assert (cfg.data.text_column, cfg.data.text_pair_column) == ("question1", "question2")
    with pytest.raises(BertftError, match="one text column, or two as a pair"):
        train_config_from({"text_column_names": "a,b,c"})
    with pytest.raises(BertftError, match="one text column, or two as a pair"):
        train_config_from({"text_column": "a,b", "text_pair_column": "c"})


def test_a_dataset_configuration_is_refused_for_a_file_or_a_bundled_set(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("text,label\na,x\n")
    for data in (str(path), "trec"):
        with pytest.raises(BertftError, match="--data_config sst2: only a hub dataset"):
            train_config_from({"data": data, "dataset_config_name": "sst2"})
    assert train_config_from({"data": "glue", "data_config": "sst2"}).data.data_config == "sst2"

"""docs/cli.md is the parser's own description; `train --help` shows every setting in a group."""

from __future__ import annotations

import argparse
import dataclasses

import pytest

from bertft.cli import TRAIN_GROUPS
from bertft.config import DataConfig, TrainConfig
from bertft.flags import flag_fields
from bertft.flags_doc import DOC, commands, main, render

pytestmark = pytest.mark.unit


def test_the_flag_reference_is_up_to_date():
    # Out of date after a setting or its help changed: run `python -m bertft.flags_doc`.
    assert DOC.read_text(encoding="utf-8") == render()
    assert main(["--check"]) == 0


def test_every_train_setting_is_in_exactly_one_help_group():
    grouped = [name for names in TRAIN_GROUPS.values() for name in names]
    assert len(grouped) == len(set(grouped)), "a setting in two groups"
    assert set(grouped) == flag_fields(TrainConfig, DataConfig)


def test_train_help_starts_with_the_data_and_model_flags():
    shown = [
        a.option_strings[0]
        for group in commands()["train"]._action_groups
        for a in group._group_actions
        if a.option_strings and a.option_strings[0] != "-h" and a.help != argparse.SUPPRESS
    ]
    assert shown[:3] == ["--data", "--text_column", "--label_column"]
    assert shown.index("--model_id") < shown.index("--long_texts")


def test_a_switch_on_by_default_says_what_turning_it_off_does():
    actions = commands()["export"]._actions
    export = {a.option_strings[0]: a.help for a in actions if a.option_strings}
    assert "skip" in export["--no_optimize"]
    assert "%%" not in render()  # argparse's escape never reaches the page
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    assert "5% of" in fields["long_texts"].metadata["help"]

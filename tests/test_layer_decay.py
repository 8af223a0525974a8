"""--layerwise_lr_decay: one learning rate per encoder layer, found by name in every family."""

from __future__ import annotations

import pytest
import torch
from architectures import ARCHITECTURES, build
from helpers import tiny_train_args, topic_frame

from bertft.cli import main
from bertft.errors import BertftError
from bertft.training.layer_decay import layer_of, layerwise_groups

pytestmark = pytest.mark.unit


def _groups(model, decayed: set[str], decay: float = 0.5) -> dict[str, tuple[float, float]]:
    """name -> (learning rate, weight decay) of the group each parameter landed in."""
    groups = layerwise_groups(model.named_parameters(), 1.0, decay, 0.01, decayed)
    where = {id(p): (g["lr"], g["weight_decay"]) for g in groups for p in g["params"]}
    return {n: where[id(p)] for n, p in model.named_parameters()}


@pytest.mark.parametrize("arch", [a for a in ARCHITECTURES if a != "albert"])
def test_each_family_gets_the_head_at_the_rate_and_each_layer_below_half_of_it(arch, tmp_path):
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(build(arch, tmp_path), num_labels=3)
    # Any split will do: the groups must follow the names given, whatever they are.
    decayed = {n for n, _ in model.named_parameters() if n.endswith("weight")}
    rates = _groups(model, decayed)
    by_layer: dict[int | None, set[float]] = {}
    for name, (lr, _) in rates.items():
        by_layer.setdefault(layer_of(name), set()).add(lr)
    # Two layers: head 1, layer 1 0.5, layer 0 0.25, embeddings 0.125; one rate per depth.
    assert by_layer[None] == {1.0}
    assert by_layer[1] == {0.5} and by_layer[0] == {0.25}
    assert by_layer[-1] == {0.125}, arch
    assert all(rates[n][0] == 1.0 for n in rates if n.startswith("classifier"))
    # Weight decay only for the names given, at every depth.
    assert {wd for n, (_, wd) in rates.items() if n in decayed} == {0.01}
    assert {wd for n, (_, wd) in rates.items() if n not in decayed} == {0.0}


def test_a_shared_layer_has_no_depth_to_decay_and_is_refused(tmp_path):
    from transformers import AutoModelForSequenceClassification

    albert = AutoModelForSequenceClassification.from_pretrained(build("albert", tmp_path))
    with pytest.raises(BertftError, match="no numbered encoder layers.*ALBERT"):
        layerwise_groups(albert.named_parameters(), 1.0, 0.5, 0.0, set(), "albert")


def test_frozen_parameters_stay_out_of_every_group(tiny_model):
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(tiny_model, num_labels=3)
    model.bert.embeddings.word_embeddings.weight.requires_grad = False
    groups = layerwise_groups(model.named_parameters(), 1.0, 0.5, 0.0, set())
    ids = {id(p) for g in groups for p in g["params"]}
    assert id(model.bert.embeddings.word_embeddings.weight) not in ids
    assert len(ids) == sum(p.requires_grad for p in model.parameters())


@pytest.mark.trains
def test_training_uses_one_rate_per_layer_and_records_the_decay(tiny_model, tmp_path, capsys):
    data = tmp_path / "topics.csv"
    topic_frame(120).to_csv(data, index=False)
    out = tmp_path / "run"
    flags = ("--epochs", "1", "--layerwise_lr_decay", "0.5")
    assert main(tiny_train_args(tiny_model, data, out, *flags)) == 0
    # The optimizer the Trainer saved: its groups' starting rates, 5e-3 times 0.5^k.
    saved = sorted((out / "checkpoints").glob("checkpoint-*"))[-1] / "optimizer.pt"
    groups = torch.load(saved, weights_only=True)["param_groups"]
    assert {round(g["initial_lr"] / 5e-3, 6) for g in groups} == {1.0, 0.5, 0.25, 0.125}
    assert "layerwise_lr_decay: 0.5" in (out / "train_config.yaml").read_text()

    bad = tiny_train_args(tiny_model, data, tmp_path / "bad", "--layerwise_lr_decay", "0")
    assert main(bad) == 2
    assert "--layerwise_lr_decay must be in (0, 1], got 0.0" in capsys.readouterr().err


@pytest.mark.trains
def test_resuming_with_another_decay_is_refused(tiny_model, tmp_path, capsys):
    data = tmp_path / "topics.csv"
    topic_frame(60).to_csv(data, index=False)
    out = tmp_path / "run"
    # An unfinished run: checkpoints, no metrics.json (a real SIGTERM is test_resume.py's job).
    assert (
        main(tiny_train_args(tiny_model, data, out, "--epochs", "1", "--layerwise_lr_decay", "0.5"))
        == 0
    )
    (out / "metrics.json").unlink()
    other = ("--epochs", "1", "--layerwise_lr_decay", "0.8")
    assert main(tiny_train_args(tiny_model, data, out, *other)) == 2
    err = capsys.readouterr().err
    assert "layerwise_lr_decay" in err and "0.5" in err, err

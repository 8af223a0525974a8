"""--reinit_pooler: the pre-trained pooler drawn afresh, in the families that have one."""

from __future__ import annotations

import pytest
import torch
import yaml
from architectures import ARCHITECTURES, build
from helpers import tiny_train_args, topic_frame
from safetensors.torch import load_file
from task_data import pair_frame

from bertft.cli import main
from bertft.model import pooler_untrained, reinit_pooler
from bertft.tasks import SingleLabel

pytestmark = pytest.mark.unit

# Families whose classification head reads a pooler (BERT's, ALBERT's, DeBERTa's); the others
# put a new dense layer in the head itself and load no pooler.
WITH_POOLER = {"bert": "bert.pooler.dense", "albert": "albert.pooler", "deberta-v2": "pooler.dense"}


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_the_pooler_is_drawn_like_a_new_layer_where_there_is_one(arch, tmp_path):
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(build(arch, tmp_path), num_labels=3)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    # Built offline and never trained, as the bundled MiniLM's pooler: its bias all zeros.
    assert pooler_untrained(model) == (arch in WITH_POOLER)
    drawn = reinit_pooler(model)
    after = dict(model.named_parameters())
    if arch not in WITH_POOLER:
        assert drawn == []
        assert all(torch.equal(before[n], after[n]) for n in before)
        return
    prefix = WITH_POOLER[arch]
    assert sorted(drawn) == [f"{prefix}.bias", f"{prefix}.weight"]
    weight, bias = after[f"{prefix}.weight"], after[f"{prefix}.bias"]
    assert not torch.equal(weight, before[f"{prefix}.weight"])
    assert abs(weight.std().item() - model.config.initializer_range) < 0.002
    assert torch.count_nonzero(bias) == 0
    # Nothing else moved.
    assert all(torch.equal(before[n], after[n]) for n in before if n not in drawn)


def _pooler_correlation(run, model) -> float:
    trained = load_file(run / "model.safetensors")["bert.pooler.dense.weight"].flatten()
    original = load_file(model / "model.safetensors")["pooler.dense.weight"].flatten()
    return torch.corrcoef(torch.stack([trained, original]))[0, 1].item()


@pytest.mark.trains
def test_training_starts_from_a_new_pooler_only_when_asked(tiny_model, tmp_path):
    data = tmp_path / "topics.csv"
    topic_frame(60).to_csv(data, index=False)
    runs = {}
    for name, flags in (("kept", ()), ("drawn", ("--reinit_pooler",))):
        runs[name] = tmp_path / name
        args = tiny_train_args(tiny_model, data, runs[name], "--max_steps", "2", *flags)
        assert main(args) == 0
    # Two small steps leave the pre-trained pooler recognisable; a new one has nothing of it.
    assert _pooler_correlation(runs["kept"], tiny_model) > 0.9
    assert abs(_pooler_correlation(runs["drawn"], tiny_model)) < 0.2
    assert "reinit_pooler: true" in (runs["drawn"] / "train_config.yaml").read_text()


@pytest.mark.trains
def test_a_model_without_a_pooler_says_there_is_nothing_to_draw(tmp_path, capsys):
    data = tmp_path / "topics.csv"
    topic_frame(60).to_csv(data, index=False)
    model = build("distilbert", tmp_path / "distilbert")
    args = tiny_train_args(model, data, tmp_path / "run", "--max_steps", "1", "--reinit_pooler")
    assert main(args) == 0
    assert "has no pre-trained pooler; its head is all new" in capsys.readouterr().err


def _pair_run(model, tmp_path, name: str, *flags: str):
    """Two steps on text pairs, with no recipe flag but `flags`: the run's folder."""
    data = tmp_path / "pairs.csv"
    pair_frame(60).to_csv(data, index=False)
    out = tmp_path / name
    args = ["train", "--model_id", str(model), "--data", str(data), "--text_pair_column",
            "sentence2", "--text_column", "sentence1", "--output_dir", str(out),
            "--max_steps", "2", "--precision", "fp32", "--recipe", "standard",
            "--per_device_train_batch_size", "32", *flags]  # fmt: skip
    assert main(args) == 0
    return out


@pytest.mark.trains
def test_text_pairs_start_from_a_new_pooler_unless_told_not_to(tiny_model, tmp_path, capsys):
    recipe = SingleLabel.pair_recipe
    assert recipe.reinit_pooler and recipe != SingleLabel.recipe
    capsys.readouterr()
    drawn = _pair_run(tiny_model, tmp_path, "recipe")
    said = capsys.readouterr().err
    assert abs(_pooler_correlation(drawn, tiny_model)) < 0.2
    config = yaml.safe_load((drawn / "train_config.yaml").read_text())
    assert (config["epochs"], config["reinit_pooler"]) == (recipe.epochs, True)
    assert "- reinit_pooler: True" in (drawn / "README.md").read_text()  # the model card
    assert (
        f"2 steps at learning rate {recipe.learning_rate:g}, pooler drawn afresh "
        "(epochs, learning_rate and reinit_pooler: the single_label default for text pairs)"
    ) in said
    # Hugging Face's spelling of a false flag; the other recipe settings stay the pairs' own.
    kept = _pair_run(tiny_model, tmp_path, "kept", "--reinit_pooler", "false")
    assert _pooler_correlation(kept, tiny_model) > 0.9
    assert "(epochs and learning_rate: the single_label default for text pairs)" in (
        capsys.readouterr().err
    )


@pytest.mark.trains
def test_text_pairs_on_a_model_without_a_pooler_draw_nothing_and_say_so_in_the_config(
    tmp_path, capsys
):
    run = _pair_run(build("distilbert", tmp_path / "distilbert"), tmp_path, "run")
    said = capsys.readouterr().err
    assert "has no pre-trained pooler" not in said  # the user did not ask for one
    assert "pooler drawn afresh" not in said
    assert yaml.safe_load((run / "train_config.yaml").read_text())["reinit_pooler"] is False


@pytest.mark.trains
def test_text_pairs_keep_a_pooler_that_was_trained_unless_asked(tiny_model, tmp_path, capsys):
    """BERT's own pooler learnt next-sentence prediction: the pair recipe keeps a pooler whose
    bias shows training, and draws it only when the user says so."""
    from safetensors.torch import save_file

    trained = tmp_path / "trained-pooler"
    trained.mkdir()
    for file in tiny_model.iterdir():
        (trained / file.name).write_bytes(file.read_bytes())
    weights = load_file(trained / "model.safetensors")
    weights["pooler.dense.bias"] = torch.full_like(weights["pooler.dense.bias"], 0.05)
    save_file(weights, trained / "model.safetensors", metadata={"format": "pt"})

    capsys.readouterr()
    kept = _pair_run(trained, tmp_path, "kept")
    assert "pooler kept (it shows training" in capsys.readouterr().err
    assert _pooler_correlation(kept, trained) > 0.9
    assert yaml.safe_load((kept / "train_config.yaml").read_text())["reinit_pooler"] is False
    drawn = _pair_run(trained, tmp_path, "drawn", "--reinit_pooler")
    assert abs(_pooler_correlation(drawn, trained)) < 0.2

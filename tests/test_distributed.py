"""Data-parallel training with real torchrun processes on CPU (gloo), on the tiny model.

The reference is one process with per-device batch 16; the distributed runs use 2 processes with
per-device batch 8, the same global batch. The model has no dropout, so the runs differ only by
floating-point summation order: predictions must be equal and the losses equal to float rounding.
The validation set has 45 texts, which 2 processes with batch 8 cannot split evenly.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers import slowed_env, tiny_train_args, topic_frame
from safetensors.torch import load_file

from bertft.cli import main
from bertft.evaluate import evaluate
from bertft.settings import EvaluateSettings
from bertft.training.checkpoint import last_whole_checkpoint

# Real multi-process runs: about 20 s each.
pytestmark = [pytest.mark.slow, pytest.mark.trains, pytest.mark.subprocess]

EXACT, DRIFT = 1e-5, 1e-2  # relative loss tolerances; see assert_same_training
TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("ddp-data")
    train, validation = folder / "train.csv", folder / "validation.csv"
    topic_frame(240, seed=0).to_csv(train, index=False)  # 15 global batches of 16 an epoch
    topic_frame(45, seed=1).to_csv(validation, index=False)
    return train, validation


def run_args(model: Path, data: tuple[Path, Path], out: Path, per_device: int) -> list[str]:
    return tiny_train_args(
        model,
        data[0],
        out,
        "--validation_data",
        str(data[1]),
        "--per_device_train_batch_size",
        str(per_device),
        "--per_device_eval_batch_size",
        "8",
        "--learning_rate",
        "1e-2",
    )


def bertft(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*args], capture_output=True, text=True, timeout=300, env={**os.environ, **(env or {})}
    )


@pytest.fixture(scope="module")
def single(still_model, data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("single") / "run"
    assert main(run_args(still_model, data, out, per_device=16)) == 0
    return out


@pytest.fixture(scope="module")
def two_processes(still_model, data, tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("torchrun") / "run"
    done = bertft(
        *TORCHRUN,
        "--standalone",
        "--nproc_per_node=2",
        "-m",
        "bertft",
        *run_args(still_model, data, out, per_device=8),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out, done.stdout + done.stderr


def metrics(out: Path) -> dict:
    return json.loads((out / "metrics.json").read_text())


def assert_same_training(run: Path, reference: Path) -> None:
    got, want = metrics(run), metrics(reference)
    assert got["history"][-1]["step"] == want["history"][-1]["step"] == 60  # 4 epochs of 15
    assert got["validation"]["confusion_matrix"] == want["validation"]["confusion_matrix"]
    assert got["validation"]["accuracy"] == want["validation"]["accuracy"] >= 0.9
    assert got["validation"]["loss"] == pytest.approx(want["validation"]["loss"], rel=0.05)
    losses = [(h["step"], h["loss"]) for h in got["history"] if "loss" in h]
    reference_losses = [(h["step"], h["loss"]) for h in want["history"] if "loss" in h]
    assert [s for s, _ in losses] == [s for s, _ in reference_losses]
    for (step, a), (_, b) in zip(losses, reference_losses, strict=True):
        # The same batches and gradients: equal to float rounding through the first epoch.
        # Later, at this high learning rate, rounding differences grow (a gradient spike
        # around step 25), so later steps get a looser bound; a wrong loss scale or batch
        # order would be off by far more from the first step on.
        assert a == pytest.approx(b, rel=EXACT if step <= 15 else DRIFT), f"step {step}"


def test_torchrun_two_processes_train_like_one_with_the_same_global_batch(two_processes, single):
    out, log = two_processes
    assert "world size 2, global batch 16" in log
    assert_same_training(out, single)
    # Rank 0 alone wrote: the output holds what a single run's does, and nothing more.
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in single.iterdir())

    from bertft.inference.classifier import Classifier

    texts = ["the team and the coach win the match", "rain and storm today", "cheese and bread"]
    assert Classifier.from_pretrained(out).predict(texts) == ["sports", "weather", "food"]


def test_sharded_evaluation_equals_one_process_on_an_uneven_set(two_processes, data, tmp_path):
    out, _ = two_processes
    validation = metrics(out)["validation"]
    settings = EvaluateSettings(
        str(out), str(data[1]), output_dir=str(tmp_path), per_device_eval_batch_size=7
    )
    alone = evaluate(settings)
    assert validation["samples"] == alone["samples"] == 45  # nothing dropped or repeated
    assert validation["confusion_matrix"] == alone["confusion_matrix"]
    assert validation["accuracy"] == alone["accuracy"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 120) -> bool:
    """Until something accepts connections on the port (the host node's rendezvous store);
    False if the host exited first (its log says why)."""
    deadline = time.monotonic() + timeout
    while process.poll() is None and time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


def node(node_rank: int, port: int, args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [
            *TORCHRUN,
            "--nnodes=2",
            "--nproc_per_node=1",
            "--rdzv_backend=c10d",
            f"--rdzv_endpoint=127.0.0.1:{port}",
            "--rdzv_id=bertft-test",
            # Both "machines" are this one: say which launcher hosts the rendezvous store,
            # or both may try to bind it.
            f"--rdzv_conf=is_host={int(node_rank == 0)}",
            "-m",
            "bertft",
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


# The port comes from free_port(), which closes its socket before the host node binds it: on a
# machine shared with other test runs, another process's socket can take it in between (the
# cause of this test's rare failure). The host then exits with EADDRINUSE before training.
TAKEN = ("EADDRINUSE", "address already in use", "Address already in use")


def test_two_nodes_on_loopback_train_like_one_process(still_model, data, single, tmp_path):
    out = tmp_path / "run"
    args = run_args(still_model, data, out, per_device=8)
    for _ in range(3):  # a fresh port for each try whose port was taken
        port = free_port()
        host = node(0, port, args)
        # The second node starts once the host's store listens, so it never waits on a port
        # that nobody will open.
        if not wait_for_port(port, host):
            log = host.communicate(timeout=60)[0]
            assert any(t in log for t in TAKEN), log[-4000:]
            continue
        nodes = [host, node(1, port, args)]
        logs = [n.communicate(timeout=300)[0] for n in nodes]
        break
    else:
        pytest.fail("three free ports in a row were taken before the host could bind one")
    # On failure show each node's own error lines; torchrun's summary alone hides the cause.
    errors = "\n".join(line for log in logs for line in log.splitlines() if "Error" in line)
    assert [n.returncode for n in nodes] == [0, 0], errors[-4000:]
    assert_same_training(out, single)


def test_nproc_launches_torchrun_and_sigterm_to_it_resumes_exactly(
    still_model, data, two_processes, tmp_path
):
    out = tmp_path / "run"
    command = [sys.executable, "-m", "bertft", *run_args(still_model, data, out, 8), "--nproc=2"]
    # Rank 0 reports each finished step (tests/hooks); paced so the signal lands before the end.
    steps = tmp_path / "steps"
    hooks = slowed_env(step_seconds=0.05, step_file=steps)
    launcher = subprocess.Popen(
        command,
        env={**hooks, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    # Interrupt in the middle of the second epoch (steps 16-30), past the first epoch's save.
    deadline = time.monotonic() + 180
    while not (steps.is_file() and int(steps.read_text() or 0) >= 20):
        assert launcher.poll() is None, launcher.communicate()[0].decode()[-2000:]
        assert time.monotonic() < deadline, "step 20 never came"
        time.sleep(0.01)
    launcher.send_signal(signal.SIGTERM)  # the launcher became torchrun itself (exec)
    log = launcher.communicate(timeout=120)[0].decode()
    assert launcher.returncode != 0, log[-2000:]
    assert "launching 2 processes" in log
    saved = last_whole_checkpoint(out / "checkpoints")
    # Saved where the signal landed (step 20 or a step after it), not at the epoch's end.
    assert saved is not None and 20 <= int(saved.name.split("-")[1]) < 30, log[-2000:]
    assert not (out / "metrics.json").exists()

    done = bertft(*command)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"resuming from {saved}" in done.stderr
    # Resumed under torchrun, the result is the uninterrupted torchrun run's, bit for bit.
    got, want = metrics(out), metrics(two_processes[0])
    assert got["validation"]["loss"] == want["validation"]["loss"]
    a = load_file(out / "model.safetensors")
    b = load_file(two_processes[0] / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in b)

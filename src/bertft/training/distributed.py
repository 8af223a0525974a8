"""Several processes, one run: who decides, who writes, who waits.

`torchrun` starts one process per device and the Trainer (through accelerate) joins them into a
process group and runs DDP; bertft adds no distribution layer of its own. These are the few points
where bertft's own steps must agree across processes: rank 0 decides whether to resume, rank 0
alone writes files, and each machine tokenizes once while the others wait for its cache.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from bertft.errors import BertftError

T = TypeVar("T")


def rank() -> int:
    """This process's global rank (0 without torchrun)."""
    return int(os.environ.get("RANK", "0"))


def is_main_process() -> bool:
    return rank() == 0


def _group_ready() -> bool:
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def barrier() -> None:
    if _group_ready():
        import torch.distributed as dist

        dist.barrier()


def main_decides(decide: Callable[[], T]) -> T:
    """Run `decide` on rank 0 only and hand its result (or its error) to every rank, so that all
    processes act on one decision, taken once, by the process that may change files."""
    if not _group_ready():
        return decide()
    import torch.distributed as dist

    box: list[object] = [None]
    if is_main_process():
        try:
            box[0] = ("ok", decide())
        except BertftError as e:
            box[0] = ("error", str(e))
    dist.broadcast_object_list(box, src=0)
    status, value = box[0]  # type: ignore[misc]
    if status == "error":
        raise BertftError(value)  # type: ignore[arg-type]
    return value  # type: ignore[return-value]


@contextmanager
def local_main_first() -> Iterator[None]:
    """The first process on each machine runs the block first (say, tokenizing into a cache on
    local disk); the others wait for it and then find the work done."""
    local_main = int(os.environ.get("LOCAL_RANK", "0")) == 0
    if not _group_ready():
        yield
        return
    if not local_main:
        barrier()
    try:
        yield
    finally:
        if local_main:
            barrier()


def launch(nproc: int, argv: list[str]) -> None:
    """Replace this process with `torchrun --standalone --nproc_per_node NPROC -m bertft ARGV`.
    exec, not a child process: signals (SIGTERM from a scheduler, Ctrl-C) reach torchrun itself,
    which passes them to every worker."""
    if "LOCAL_RANK" in os.environ:
        raise BertftError("--nproc is for launching; under torchrun leave it out")
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        f"--nproc_per_node={nproc}",
        # On SIGTERM, time for every worker to finish its step and rank 0 to save before
        # torchrun escalates to SIGKILL (its default, 30 s, is short for a large model).
        "--shutdown-timeout=90",
        "-m",
        "bertft",
        *argv,
    ]
    logging.getLogger(__name__).info(
        "bertft: launching %d processes: torchrun %s", nproc, " ".join(command[3:])
    )
    sys.stderr.flush()
    sys.stdout.flush()
    os.execv(sys.executable, command)

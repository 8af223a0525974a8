"""Files are whole or absent: each is written under a temporary name beside its target and
renamed into place, so an interrupted run never leaves half a report, model card or metrics.
The one place bertft writes outputs: text, JSON and bytes here, and `replacing` /
`replacing_folder` for writers that take a path (plots, Parquet, ONNX exports)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def cache_root() -> Path:
    """bertft's cache (assembled bundled models, data given from Python): $BERTFT_CACHE, else
    $XDG_CACHE_HOME/bertft or ~/.cache/bertft."""
    if os.environ.get("BERTFT_CACHE"):
        return Path(os.environ["BERTFT_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bertft"


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary path beside `path` for any writer to write to; renamed onto `path` when the
    block ends without an error, else removed (an earlier `path` stays as it was)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # one temporary name per process: ranks under torchrun may write the same file at once
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def replacing_folder(path: Path) -> Iterator[Path]:
    """A new, empty folder beside `path` to fill; put at `path` (replacing a folder there) when
    the block ends without an error, else removed, leaving an earlier `path` as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    work.chmod(0o755)  # mkdtemp makes it private; outputs are meant to be shared
    try:
        yield work
        old = path.with_name(f".{path.name}.old")
        if path.exists():  # a folder cannot be renamed onto another: move the old one aside
            shutil.rmtree(old, ignore_errors=True)
            path.replace(old)
        work.replace(path)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def write_bytes(path: Path, content: bytes) -> Path:
    with replacing(path) as tmp:
        tmp.write_bytes(content)
    return path


def write_text(path: Path, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, value: Any) -> Path:
    """Indented JSON; values JSON lacks (paths, numpy scalars) are written as strings."""
    return write_text(path, json.dumps(value, indent=2, default=str, ensure_ascii=False))

"""Files are whole or absent: each is written under a temporary name beside its target and
renamed into place, so an interrupted run never leaves half a report, model card or metrics."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def cache_root() -> Path:
    """bertft's cache (assembled bundled models, data given from Python): $BERTFT_CACHE, else
    $XDG_CACHE_HOME/bertft or ~/.cache/bertft."""
    if os.environ.get("BERTFT_CACHE"):
        return Path(os.environ["BERTFT_CACHE"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "bertft"


def write_bytes(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    # one temporary name per process: ranks under torchrun may write the same file at once
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(content)
    tmp.replace(path)
    return path


def write_text(path: Path, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, value: Any) -> Path:
    """Indented JSON; values JSON lacks (paths, numpy scalars) are written as strings."""
    return write_text(path, json.dumps(value, indent=2, default=str, ensure_ascii=False))

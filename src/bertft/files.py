"""Files are whole or absent: each is written under a temporary name beside its target and
renamed into place, so an interrupted run never leaves half a report, model card or metrics."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


def write_json(path: Path, value: Any) -> Path:
    """Indented JSON; values JSON lacks (paths, numpy scalars) are written as strings."""
    return write_text(path, json.dumps(value, indent=2, default=str, ensure_ascii=False))

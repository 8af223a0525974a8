"""Is this the same run? The settings a run recorded against the ones given now, named setting
by setting: the one wording of every refusal to mix two runs' outputs (training's checkpoints,
predict's progress marker)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def changed_settings(
    then: Mapping[str, Any], now: Mapping[str, Any], by_own_name: Iterable[str] = ()
) -> list[str]:
    """Every difference, both ways (a key only one side has is a difference too), as
    `key: THEN then, NOW now`. Where both values are dicts, each setting in them that differs
    is named on its own: `key.setting` (`training_arguments.optim`), or by its own name for the
    keys in `by_own_name` (a schedule's `learning_rate`)."""
    own = set(by_own_name)
    out: list[str] = []
    for key in {**then, **now}:
        before, after = then.get(key), now.get(key)
        if before == after:
            continue
        if isinstance(before, dict) and isinstance(after, dict):
            prefix = "" if key in own else f"{key}."
            out += [
                f"{prefix}{name}: {before.get(name)!r} then, {after.get(name)!r} now"
                for name in {**before, **after}
                if before.get(name) != after.get(name)
            ]
        else:
            out.append(f"{key}: {before!r} then, {after!r} now")
    return out

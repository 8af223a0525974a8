"""The README names every flag of every command, so that a flag added is a flag documented."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from bertft.cli import _parser

pytestmark = pytest.mark.unit

README = (Path(__file__).parent.parent / "README.md").read_text()


def _named(flag: str) -> bool:
    return re.search(re.escape(flag) + r"(?![\w-])", README) is not None


def _commands() -> dict[str, argparse.ArgumentParser]:
    (sub,) = (a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_every_flag_of_every_command_is_in_the_readme():
    missing = {}
    for name, parser in _commands().items():
        flags = {o for a in parser._actions for o in a.option_strings if o.startswith("--")}
        flags.discard("--help")
        # A switch is documented by either of its spellings (--strict or --no_strict).
        unnamed = [
            f
            for f in sorted(flags)
            if not _named(f) and not _named(re.sub(r"^--(no_)?", "--no_", f, count=1))
            and not _named(re.sub(r"^--no_", "--", f))
        ]  # fmt: skip
        if unnamed:
            missing[name] = unnamed
    assert not missing, f"flags the README does not mention: {missing}"


def test_every_command_has_its_own_example():
    for name in _commands():
        assert f"bertft {name}" in README, name

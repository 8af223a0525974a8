"""The docs name every flag of every command (docs/cli.md, generated from the settings), and the
README shows every command at work, so that a flag added is a flag documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bertft.flags_doc import commands

pytestmark = pytest.mark.unit

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()
CLI_DOC = (ROOT / "docs" / "cli.md").read_text()


def _named(flag: str, text: str) -> bool:
    return re.search(re.escape(flag) + r"(?![\w-])", text) is not None


def test_every_flag_of_every_command_is_in_the_flag_reference():
    missing = {}
    for name, parser in commands().items():
        flags = {o for a in parser._actions for o in a.option_strings if o.startswith("--")}
        flags.discard("--help")
        # A switch is documented by either of its spellings (--strict or --no_strict).
        unnamed = [
            f
            for f in sorted(flags)
            if not _named(f, CLI_DOC)
            and not _named(re.sub(r"^--(no_)?", "--no_", f, count=1), CLI_DOC)
            and not _named(re.sub(r"^--no_", "--", f), CLI_DOC)
        ]
        if unnamed:
            missing[name] = unnamed
    assert not missing, f"flags docs/cli.md does not mention: {missing}"


def test_every_command_has_its_own_example():
    for name in commands():
        assert f"bertft {name}" in README, name


def test_the_readme_points_at_the_flag_reference():
    assert "docs/cli.md" in README

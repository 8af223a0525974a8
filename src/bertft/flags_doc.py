"""docs/cli.md, the flag reference, written from the parser that the settings dataclasses build.

`python -m bertft.flags_doc` rewrites it; `python -m bertft.flags_doc --check` exits 1 when it is
out of date (tests/test_cli_doc.py runs the same comparison), so a flag added is a flag documented.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bertft.cli import _parser
from bertft.flags import HelpFormatter

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"

HEADER = """\
# Command-line reference

Generated from the settings dataclasses by `python -m bertft.flags_doc`; do not edit by hand
(`tests/test_cli_doc.py` fails when this page and the code disagree). `bertft COMMAND -h` shows
the same. Every flag of `train` is also a key of its `--config` YAML file and a keyword of
`bertft.train()`; the flags of the other commands are the fields of their settings
(`bertft.settings`). Switches take `--strict`, `--strict false` or `--no_strict`, as Hugging
Face's do.
"""


def commands() -> dict[str, argparse.ArgumentParser]:
    """Each subcommand's parser, by name."""
    (sub,) = (a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _flag(action: argparse.Action, formatter: HelpFormatter) -> str:
    return formatter._format_action_invocation(action)


def _help(action: argparse.Action) -> str:
    text = (action.help or "").replace("%%", "%")
    return " ".join(text.split()).replace("|", "\\|")


def _section(name: str, parser: argparse.ArgumentParser) -> list[str]:
    formatter = HelpFormatter(f"bertft {name}")
    lines = [f"## `bertft {name}`", "", " ".join((parser.description or "").split()), ""]
    for group in parser._action_groups:
        actions = [
            a
            for a in group._group_actions
            if a.help is not argparse.SUPPRESS and not isinstance(a, argparse._HelpAction)
        ]
        if not actions:
            continue
        if group.title not in ("options", "optional arguments"):
            lines += [f"### {group.title}", ""]
        lines += ["| flag | what it does |", "| --- | --- |"]
        lines += [f"| `{_flag(a, formatter)}` | {_help(a)} |" for a in actions]
        lines.append("")
    if parser.epilog:
        lines += [" ".join(parser.epilog.split()), ""]
    return lines


def render() -> str:
    lines = [HEADER]
    for name, parser in commands().items():
        lines += _section(name, parser)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    text = render()
    if "--check" in argv:
        if not DOC.is_file() or DOC.read_text(encoding="utf-8") != text:
            print(f"{DOC} is out of date: run python -m bertft.flags_doc", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

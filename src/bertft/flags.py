"""Settings dataclasses are the CLI and the YAML: one definition per setting, flags generated.

A field's metadata says what its flag shows and accepts: `help`, `choices`, `aliases` (other names
users arrive with, e.g. Hugging Face's `--num_train_epochs` for `--epochs`; flags and YAML keys
alike) and `env` (an environment variable that supplies the default, for containers). Flags are
added with their defaults unset (SUPPRESS), so that only what a user typed overrides a YAML file
and the dataclass defaults. Booleans follow `HfArgumentParser`: `--flag`, `--flag false`, and
`--no_flag`.

Nothing here imports torch or transformers: `bertft --help` stays instant.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import typing
from dataclasses import field
from pathlib import Path
from typing import Any

import yaml

from bertft.errors import BertftError


def opt(default: Any, help: str, **extra: Any) -> Any:
    """A dataclass field with a default and the help text its flag shows. `extra`: `choices`,
    `aliases` (tuple of other names), `env` (environment variable giving the default), `off`
    (a switch on by default: what its `--no_NAME`, the form --help shows, does)."""
    return field(default=default, metadata={"help": help, **extra})


def required(help: str, **extra: Any) -> Any:
    """A field with no default: its flag is required."""
    return field(metadata={"help": help, **extra})


METAVARS = {int: "N", float: "X"}


def string_to_bool(value: str | bool) -> bool:
    """`--flag true/false/yes/no/1/0`, as `HfArgumentParser` takes them."""
    if isinstance(value, bool):
        return value
    lowered = value.lower()
    if lowered in ("yes", "true", "t", "y", "1"):
        return True
    if lowered in ("no", "false", "f", "n", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got '{value}'")


class HelpFormatter(argparse.HelpFormatter):
    """One name per setting in --help: the first option string (aliases are in the help text)."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=32)

    def _format_action_invocation(self, action: argparse.Action) -> str:
        if not action.option_strings or isinstance(action, argparse._HelpAction):
            return super()._format_action_invocation(action)
        name = action.option_strings[0]
        if action.nargs == 0:
            return name
        if action.nargs == "?":
            return f"{name} [{self._metavar_formatter(action, 'BOOL')(1)[0]}]"
        return f"{name} {self._format_args(action, action.dest.upper())}"


def base_type(annotation: Any) -> Any:
    """`int | None` -> int; `list[str] | None` -> list[str]."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    return args[0] if len(args) == 1 else annotation


def aliases_of(cls: type) -> dict[str, str]:
    """alias -> setting name, for every field of `cls` with aliases."""
    out = {}
    for f in dataclasses.fields(cls):
        for alias in f.metadata.get("aliases", ()):
            out[alias] = f.name
    return out


def _help_text(f: dataclasses.Field) -> str:
    text = f.metadata.get("help", "")
    if f.default not in (dataclasses.MISSING, None, False):
        default = f.default
        if f.metadata.get("env"):
            default = f"${f.metadata['env']} or {default}"
        text += f" (default: {default})"
    aliases = f.metadata.get("aliases", ())
    if aliases:
        text += "; also " + ", ".join(f"--{a}" for a in aliases)
    return text.replace("%", "%%")


def _off_help(f: dataclasses.Field) -> str:
    text = f.metadata.get("off") or "turn off: " + f.metadata.get("help", "")
    return text.replace("%", "%%")


def add_settings_args(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    cls: type,
    only: tuple[str, ...] | None = None,
) -> None:
    """One `--name` flag per field of the dataclass `cls` (nested dataclass fields skipped: they
    get their own call), aliases as extra option strings of the same flag. `only`: these
    fields, in this order (a --help group)."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    for f in fields.values() if only is None else [fields[n] for n in only if n in fields]:
        if dataclasses.is_dataclass(f.default_factory) or f.metadata.get("flag") is False:
            continue
        names = [f"--{f.name}", *(f"--{a}" for a in f.metadata.get("aliases", ()))]
        kind = base_type(hints[f.name])
        common = {"dest": f.name, "default": argparse.SUPPRESS, "help": _help_text(f)}
        required_flag = _is_required(f)
        if kind is bool:
            # Hugging Face's forms: --flag, --flag false, and --no_flag (shown when on by default)
            on_by_default = f.default is True
            parser.add_argument(
                *names,
                type=string_to_bool,
                nargs="?",
                const=True,
                metavar="BOOL",
                **{**common, "help": argparse.SUPPRESS if on_by_default else common["help"]},
            )
            # --help shows --no_NAME for a switch that is on: its text says what turning it off does
            parser.add_argument(
                f"--no_{f.name}",
                action="store_false",
                dest=f.name,
                default=argparse.SUPPRESS,
                help=_off_help(f) if on_by_default else argparse.SUPPRESS,
            )
        elif typing.get_origin(kind) is list:
            item = typing.get_args(kind)[0]
            parser.add_argument(
                *names, type=item, action="append", required=required_flag, **common
            )
        else:
            parser.add_argument(
                *names,
                type=kind,
                choices=f.metadata.get("choices"),
                # choices show themselves: {torch,onnx}
                metavar=f.metadata.get("metavar")
                or (None if f.metadata.get("choices") else METAVARS.get(kind, "TEXT")),
                required=required_flag,
                **common,
            )


def flag_fields(*classes: type) -> set[str]:
    """The names of the fields of `classes` that are flags."""
    return {
        f.name
        for cls in classes
        for f in dataclasses.fields(cls)
        if not dataclasses.is_dataclass(f.default_factory) and f.metadata.get("flag") is not False
    }


def _is_required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def given(args: argparse.Namespace, cls: type) -> dict[str, Any]:
    """The fields of `cls` a user typed (defaults are SUPPRESSed, so absent from `args`)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in vars(args).items() if k in names}


def env_defaults(cls: type) -> dict[str, Any]:
    """Defaults the environment sets through fields' `env` metadata, converted to their types."""
    hints = typing.get_type_hints(cls)
    out = {}
    for f in dataclasses.fields(cls):
        name = f.metadata.get("env")
        if name and os.environ.get(name) not in (None, ""):
            out[f.name] = coerce_value(hints[f.name], os.environ[name], f"${name}", f.name)
    return out


def settings_from(cls: type, values: dict[str, Any], source: str = "settings") -> Any:
    """An instance of `cls` from flat values (flags, YAML or keyword arguments): aliases
    resolved, unknown names refused, types converted, then `validate()` called if it has one."""
    values = resolve_aliases(cls, values, source)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise BertftError(f"{source}: unknown setting(s) {', '.join(unknown)}")
    missing = [f.name for f in dataclasses.fields(cls) if _is_required(f) and f.name not in values]
    if missing:
        raise BertftError(f"{source}: missing setting(s) {', '.join(missing)}")
    settings = cls(**coerce(cls, values, source))
    if hasattr(settings, "validate"):
        settings.validate()
    return settings


def resolve_aliases(cls: type, values: dict[str, Any], source: str) -> dict[str, Any]:
    """Alias keys renamed to their setting; an alias and its setting both given is refused."""
    aliases = aliases_of(cls)
    out: dict[str, Any] = {}
    for key, value in values.items():
        name = aliases.get(key, key)
        if name in out:
            raise BertftError(f"{source}: '{key}' and '{name}' are the same setting; give one")
        out[name] = value
    return out


def coerce(cls: type, values: dict[str, Any], source: str) -> dict[str, Any]:
    """YAML and keyword arguments give ints where floats are meant (`epochs: 3`) and the like;
    convert, or say which key has the wrong type."""
    hints = typing.get_type_hints(cls)
    return {
        key: coerce_value(hints[key], value, source, key) if key in hints else value
        for key, value in values.items()
    }


def coerce_value(annotation: Any, value: Any, source: str, key: str = "") -> Any:
    kind = base_type(annotation)
    if value is None:
        return None
    if typing.get_origin(kind) is list:
        item = typing.get_args(kind)[0]
        items = [value] if isinstance(value, str) else list(value)
        return [coerce_value(item, v, source, key) for v in items]
    if isinstance(value, kind) and not (kind is int and isinstance(value, bool)):
        return value
    what = f"'{key}'" if key else "value"
    try:
        if kind is bool:
            if not isinstance(value, str):
                raise ValueError
            return string_to_bool(value)
        if kind is int and isinstance(value, float) and not value.is_integer():
            raise ValueError
        return kind(value)
    except (TypeError, ValueError, argparse.ArgumentTypeError):
        raise BertftError(f"{source}: {what} must be {kind.__name__}, got {value!r}") from None


def load_yaml(path: str | Path) -> dict[str, Any]:
    """A flat YAML mapping of setting: value."""
    path = Path(path)
    if not path.is_file():
        raise BertftError(f"config file not found: {path}")
    try:
        values = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as e:
        raise BertftError(f"{path}: not valid YAML ({e})") from None
    if not isinstance(values, dict):
        raise BertftError(
            f"{path}: expected a mapping of setting: value, got {type(values).__name__}"
        )
    return values

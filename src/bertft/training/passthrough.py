"""Every `TrainingArguments` setting bertft does not wrap passes through to the Trainer.

`--lr_scheduler_type cosine`, `label_smoothing_factor: 0.1` in the YAML, `optim="sgd"` from
Python: names and values are read by transformers' own `HfArgumentParser` (its types, choices and
booleans), and the finished `TrainingArguments` validates them as it does for any Trainer script.
Settings that bertft decides itself are refused with the setting that does it instead; a few
`run_classification.py` switches that describe what bertft always does are accepted and dropped.

Imports transformers only when something is to pass through, so `bertft --help` stays instant.
"""

from __future__ import annotations

import argparse
import difflib
import enum
import functools
import logging
from typing import Any

from bertft.errors import BertftError

log = logging.getLogger(__name__)

# TrainingArguments fields bertft decides, and what to use instead
OWNED = {
    "output_dir": "use --output_dir (the model) and --checkpoint_dir (checkpoints)",
    "overwrite_output_dir": "use --overwrite_output_dir",
    "save_strategy": "bertft saves every epoch, on SIGTERM/SIGINT, and with --save_steps "
    "or --save_every_minutes",
    "save_only_model": "resume needs whole checkpoints (optimizer, scheduler and RNG states)",
    "enable_jit_checkpoint": "bertft checkpoints on SIGTERM/SIGINT itself",
    "eval_strategy": "bertft evaluates every epoch to keep the best model (use "
    "--metric_for_best_model, --early_stopping_patience)",
    "eval_steps": "bertft evaluates every epoch",
    "load_best_model_at_end": "bertft always keeps the best model (use --metric_for_best_model)",
    "greater_is_better": "it follows --metric_for_best_model (higher is better, but for loss)",
    "resume_from_checkpoint": "use --resume (auto, never, or a checkpoint folder)",
    "push_to_hub": "use --push_to_hub with --repository_id",
    "hub_strategy": "--push_to_hub uploads the finished model folder once",
    "hub_always_push": "--push_to_hub uploads the finished model folder once",
    "hub_token": "log in with `hf auth login` (or set HF_TOKEN) for --push_to_hub",
    "hub_private_repo": "create the repository first to choose its visibility (--push_to_hub)",
    "hub_revision": "--push_to_hub uploads to the main branch",
    "train_sampling_strategy": "bertft groups batches by length with a seeded sampler, so that "
    "a resumed run sees the same batches",
    "length_column_name": "bertft's length-grouped sampler uses its own",
    "remove_unused_columns": "bertft feeds the model its inputs only",
    "label_names": "use --label_column",
    "prediction_loss_only": "bertft's metrics need the predictions",
    "batch_eval_metrics": "bertft computes its metrics over all predictions",
    "include_for_metrics": "bertft computes its metrics over all predictions",
}

# run_classification.py switches for what bertft does anyway: accepted, said, dropped
ALWAYS = {
    "do_train": "bertft always trains",
    "do_eval": "bertft always evaluates on the validation set",
    "do_predict": "bertft evaluates test_data (test_file) whenever one is given",
    "shuffle_train_dataset": "bertft always shuffles (seeded, length-grouped batches)",
    "metric_name": "bertft reports accuracy, precision, recall and F1 (macro and weighted); "
    "metric_for_best_model picks the best checkpoint",
    "text_column_delimiter": "bertft reads one text column",
    "pad_to_max_length": "bertft pads each batch to its own longest text (same results, faster)",
    "overwrite_cache": "bertft's tokenized cache is keyed by the tokenizer, length and texts",
}
# of those, the switches that take no value on the command line
SWITCHES = ("shuffle_train_dataset", "pad_to_max_length", "overwrite_cache")


@functools.cache
def _hf_parser() -> argparse.ArgumentParser:
    """transformers' parser for TrainingArguments, with no defaults: only what is given."""
    from transformers import HfArgumentParser, TrainingArguments

    parser = HfArgumentParser(
        TrainingArguments, allow_abbrev=False, add_help=False, exit_on_error=False
    )

    def refuse(message: str):  # one line, not argparse's usage of 100 flags and an exit
        raise BertftError(message)

    parser.error = refuse
    for action in parser._actions:
        action.default = argparse.SUPPRESS
        action.required = False
    return parser


@functools.cache
def _fields() -> frozenset[str]:
    """TrainingArguments' field names (asked once per flag while splitting: computed once)."""
    import dataclasses

    from transformers import TrainingArguments

    return frozenset(f.name for f in dataclasses.fields(TrainingArguments))


def parse_flags(extras: list[str], bertft_names: set[str]) -> dict[str, Any]:
    """Command-line flags bertft's own parser did not know, read by transformers' parser."""
    values: dict[str, Any] = {}
    rest = _split_always(extras, values)
    try:
        namespace, unknown = _hf_parser().parse_known_args(rest)
    except argparse.ArgumentError as e:
        raise BertftError(str(e)) from None
    if unknown:
        flag = next((u for u in unknown if u.startswith("--")), unknown[0])
        names = bertft_names | _fields()
        raise BertftError(f"unknown flag {flag}{_suggest(flag.lstrip('-'), names)}")
    values |= vars(namespace)
    return values


def _split_always(extras: list[str], found: dict[str, Any]) -> list[str]:
    """Take run_classification's --metric_name X, --text_column_delimiter X and --shuffle_... out
    of `extras` (they are no TrainingArguments fields), noting them in `found`."""
    out, i = [], 0
    while i < len(extras):
        name = extras[i].lstrip("-").split("=", 1)[0].replace("-", "_")
        if extras[i].startswith("--") and name in ALWAYS and name not in _fields():
            takes_value = name not in SWITCHES
            if "=" in extras[i]:
                found[name] = extras[i].split("=", 1)[1]
            elif takes_value or (i + 1 < len(extras) and not extras[i + 1].startswith("--")):
                found[name] = extras[i + 1] if i + 1 < len(extras) else None
                i += 1
            else:
                found[name] = True
        else:
            out.append(extras[i])
        i += 1
    return out


def split_settings(values: dict[str, Any], source: str, bertft_names: set[str]) -> dict[str, Any]:
    """Of settings bertft does not know: the TrainingArguments ones, checked and converted
    (strings from YAML through transformers' own types); run_classification's switches dropped
    with a note; settings bertft owns and unknown names refused."""
    if not values:
        return {}
    fields = _fields()
    actions = {a.dest: a for a in _hf_parser()._actions if a.option_strings}
    out = {}
    for name, value in values.items():
        if name in ALWAYS:
            _accept_always(name, value, source)
        elif name in OWNED:
            raise BertftError(f"{source}: {name} is set by bertft: {OWNED[name]}")
        elif name not in fields:
            raise BertftError(
                f"{source}: unknown setting {name}{_suggest(name, bertft_names | fields)}"
            )
        else:
            out[name] = _convert(actions.get(name), name, value, source)
    return out


def _accept_always(name: str, value: Any, source: str) -> None:
    if name in ("do_train", "do_eval", "shuffle_train_dataset") and str(value).lower() in (
        "false",
        "0",
        "no",
    ):
        raise BertftError(f"{source}: {name} false: {ALWAYS[name]}")
    log.info("%s: %s", name, ALWAYS[name])


def _convert(action: argparse.Action | None, name: str, value: Any, source: str) -> Any:
    """A YAML or Python string goes through the flag's own type and choices."""
    if action is not None and isinstance(value, str) and action.type is not None:
        try:
            value = action.type(value)
        except (TypeError, ValueError, argparse.ArgumentTypeError) as e:
            raise BertftError(f"{source}: {name}: {e}") from None
    listed = action is not None and action.choices and not isinstance(value, list)
    if listed and _plain(value) not in action.choices:
        raise BertftError(
            f"{source}: {name} must be one of {', '.join(map(str, action.choices))}, got {value!r}"
        )
    return _plain(value)


def _plain(value: Any) -> Any:
    """Enums as their values and lists as lists: what train_config.yaml and run.json can hold."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _suggest(name: str, names: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(names), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def training_arguments(base: dict[str, Any], extra: dict[str, Any]):
    """`TrainingArguments(**base)` with the pass-through settings on top; transformers' own
    refusal of a bad value becomes a one-line error naming the setting."""
    from transformers import TrainingArguments

    try:
        return TrainingArguments(**{**base, **extra})
    except (ValueError, TypeError, ImportError) as e:
        named = ", ".join(sorted(extra)) or "training arguments"
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise BertftError(f"TrainingArguments refused the settings ({named}): {first}") from None


def describe(bertft_names: set[str]) -> str:
    """The settings that pass through, for `bertft train --help_training_arguments`."""
    import dataclasses

    from transformers import TrainingArguments

    lines = [
        "TrainingArguments settings that pass through to the Trainer (flags or YAML keys; "
        "transformers checks their values):",
        "",
    ]
    for f in dataclasses.fields(TrainingArguments):
        if not f.init or f.name in OWNED or f.name in ALWAYS or f.name in bertft_names:
            continue
        default = f.default if f.default is not dataclasses.MISSING else None
        about = " ".join(str(f.metadata.get("help", "")).split())
        lines.append(f"  --{f.name} (default: {default})")
        if about:
            lines.append(f"      {about}")
    lines += ["", "Set by bertft (refused here; use the bertft setting):"]
    lines += [f"  {name}: {instead}" for name, instead in OWNED.items()]
    lines += ["", "Accepted from run_classification.py commands and dropped:"]
    lines += [f"  {name}: {what}" for name, what in ALWAYS.items()]
    return "\n".join(lines) + "\n"

"""One column resolver: which columns hold the text, the second text of a pair and the label.

Training, the Arrow path, evaluate, export's checks and `predict --input` all ask `resolve`,
with what the user named, and (after training) the columns the model learnt from, so that a
file shaped like the training file needs no flags, whatever its columns are called.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from bertft.errors import BertftError

log = logging.getLogger(__name__)

TEXT_COLUMNS = (
    "text",
    "sentence",
    "review",
    "content",
    "document",
    "question",
    "body",
    "comment",
    "tweet",
    "message",
    "sms",
    "utterance",
)
LABEL_COLUMNS = (
    "label",
    "labels",
    "category",
    "class",
    "target",
    "intent",
    "sentiment",
    "topic",
    "y",
    "score",
    "rating",
    # The label columns of well-known pair sets as they are published: Quora/QQP, SNLI and
    # MultiNLI's JSONL, SICK (which has both: the user chooses, as for any two candidates).
    "is_duplicate",
    "gold_label",
    "relatedness_score",
    "entailment_label",
)
PAIR_COLUMNS = (
    ("sentence1", "sentence2"),  # MRPC, RTE, STS-B, SNLI's JSONL
    ("premise", "hypothesis"),  # NLI on the hub
    ("question", "sentence"),  # QNLI
    ("question1", "question2"),  # QQP, Quora duplicates
    ("sentence_a", "sentence_b"),  # SICK (sentence_A, sentence_B: names match ignoring case)
    ("question", "passage"),  # BoolQ
    ("query", "passage"),
    ("text_a", "text_b"),
    ("text1", "text2"),
)
# The usual first column of each usual second one (the last pair wins: "passage" -> "query")
PARTNERS = {second: first for first, second in PAIR_COLUMNS}

COLUMNS_KEY = "bertft_columns"  # config.json: the column names of the data a model trained on


@dataclass(frozen=True)
class Columns:
    """Column names, by kind: what a user named, what a model trained on, or what was found."""

    text: str | None = None
    text_pair: str | None = None
    label: str | None = None

    def as_record(self) -> dict[str, str | None]:
        """What a model keeps under `COLUMNS_KEY`."""
        return {"text": self.text, "text_pair": self.text_pair, "label": self.label}


def trained_columns(config: dict[str, Any]) -> dict[str, str]:
    """The columns a model's config.json says its training data had (kind -> name); empty for
    models made before bertft kept them."""
    saved = config.get(COLUMNS_KEY)
    if not isinstance(saved, dict):
        return {}
    return {kind: name for kind, name in saved.items() if isinstance(name, str)}


@dataclass(frozen=True)
class Model:
    """What a trained model says about columns: the ones it learnt from (kind -> name) and
    whether it reads pairs of texts."""

    columns: dict[str, str]
    pairs: bool


def resolve(
    names: Sequence[str],
    origin: str,
    asked: Columns,
    model: Model | None = None,
    labels: Literal["required", "optional", "ignored"] = "required",
) -> Columns:
    """The text, pair and label columns of a source with columns `names`.

    In order: what the user named (it must exist), the model's own columns where the source has
    them, then the usual names. For training (no model) a usual pair of columns is read as a
    pair when the user named neither text column; a model that reads pairs takes a usual pair's
    second text when its own is missing, and a model of single texts never reads pairs."""
    names = [str(c) for c in names]
    trained = model.columns if model else {}
    present = {kind: name for kind, name in trained.items() if name in names}
    if model is not None and not model.pairs and asked.text_pair is not None:
        raise BertftError(f"--text_pair_column {asked.text_pair}: the model reads single texts")
    text = asked.text or present.get("text")
    pair = asked.text_pair or present.get("text_pair")
    usual = usual_pair(names)
    wants_pair = asked.text is None if model is None else model.pairs
    if pair is None and asked.text_pair is None and usual and wants_pair:
        if model is None:
            log.info(
                "%s: reading pairs of texts from columns '%s' and '%s' (--text_column for one "
                "text)",
                origin,
                *usual,
            )
        text, pair = text or usual[0], usual[1]
    if pair is not None:
        find_column(names, pair, (), "text_pair", origin, required=True)
        if text is None:  # the usual partner of a usual second column
            partner = {c.lower(): c for c in names}.get(PARTNERS.get(pair.lower(), ""))
            text = partner
    elif model is not None and model.pairs:
        wanted = trained.get("text_pair")
        raise BertftError(
            f"{origin}: the model reads pairs of texts (trained with a second text from "
            f"'{wanted}', which {origin} lacks: columns {', '.join(names)}); name the column of "
            f"the second text with --text_pair_column"
        )
    text = find_column(names, text, TEXT_COLUMNS, "text", origin, required=True)
    label = None
    if labels != "ignored":
        label = find_column(
            names,
            asked.label or present.get("label"),
            LABEL_COLUMNS,
            "label",
            origin,
            required=labels == "required",
        )
    return Columns(text, pair, label)


def find_column(
    names: Sequence[str],
    wanted: str | None,
    candidates: tuple[str, ...],
    kind: str,
    origin: str,
    required: bool,
) -> str | None:
    """`wanted` where `names` has it (else refused), or the one name among `candidates`
    (ignoring case), or None where not `required`."""
    columns = [str(c) for c in names]
    if wanted is not None:
        if wanted not in columns:
            raise BertftError(f"{origin}: no column '{wanted}' (columns: {', '.join(columns)})")
        return wanted
    found = [c for c in columns if c.lower() in candidates]
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise BertftError(
            f"{origin}: {kind} column is ambiguous ({', '.join(found)}); "
            f"choose one with --{kind}_column"
        )
    if required:
        raise BertftError(
            f"{origin}: no {kind} column found among {', '.join(columns)}; "
            f"name it with --{kind}_column"
        )
    return None


def usual_pair(names: Sequence[str]) -> tuple[str, str] | None:
    """The first of the usual pairs of columns (`PAIR_COLUMNS`) that `names` hold, as named
    there."""
    lower = {str(c).lower(): str(c) for c in names}
    for first, second in PAIR_COLUMNS:
        if first in lower and second in lower:
            return lower[first], lower[second]
    return None

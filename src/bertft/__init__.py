"""bertft: fine-tune BERT-family encoders for text classification.

>>> import bertft
>>> result = bertft.train(dataframe, epochs=2)      # or a path, a datasets.Dataset, dicts
>>> result.classifier(["a new text"])               # answers like pipeline()
"""

import logging

from bertft.errors import BertftError

__version__ = "0.1.0"

__all__ = ["BertftError", "Classifier", "TrainResult", "__version__", "train"]

# The library reports through logging; the CLI shows it, an application decides.
logging.getLogger(__name__).addHandler(logging.NullHandler())


def __getattr__(name: str):
    # torch and transformers load on first use: `import bertft` (and `bertft --help`) stay light.
    if name == "Classifier":
        from bertft.inference.classifier import Classifier

        return Classifier
    if name in ("train", "TrainResult"):
        from bertft import api

        return getattr(api, name)
    raise AttributeError(name)

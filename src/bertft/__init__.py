"""bertft: fine-tune BERT-family encoders for text classification."""

from bertft.errors import BertftError

__version__ = "0.1.0"

__all__ = ["BertftError", "Classifier", "__version__"]


def __getattr__(name: str):
    # Classifier pulls in torch and transformers; keep `import bertft` (and the CLI's --help) light.
    if name == "Classifier":
        from bertft.predict import Classifier

        return Classifier
    raise AttributeError(name)

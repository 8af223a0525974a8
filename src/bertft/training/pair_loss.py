"""The few-shot recipe's pair loss: within each training batch, texts whose labels agree are drawn
together and the others pushed apart, by the cosine of the vectors the classifier reads.

SetFit (Tunstall et al., 2022) trains a sentence encoder this way on pairs it draws from a few
labelled texts, then fits a head; here every pair of a batch counts (a batch of 16 texts is 120
pairs for one forward pass, where SetFit passes each pair through the model) and the pairs and
the task's own loss train together, so the result is one ordinary classifier.
"""

from __future__ import annotations

from collections.abc import Callable


class PairLoss:
    """Reads the [CLS] vector of `layer`'s output on every forward pass in training, and gives
    the pair loss of the last batch for its labels. `targets(labels)` is the task's 0..1 matrix
    of how alike each two texts' labels are (`Task.pair_targets`)."""

    def __init__(self, layer, targets: Callable, weight: float):
        self.targets, self.weight = targets, weight
        self.vectors = None
        layer.register_forward_hook(self._keep)

    def _keep(self, module, inputs, output) -> None:
        hidden = output[0] if isinstance(output, tuple) else output
        self.vectors = hidden[:, 0] if module.training else None

    def __call__(self, labels):
        """The weighted loss for the batch just passed forward (0 when there is nothing to
        compare: one text, or a batch whose texts are all alike or all different)."""
        import torch

        if self.vectors is None or len(labels) < 2:
            return 0.0
        unit = torch.nn.functional.normalize(self.vectors.float(), dim=-1)
        cosine = unit @ unit.T
        target = self.targets(labels).to(cosine.device, cosine.dtype)
        upper = torch.triu_indices(len(labels), len(labels), 1, device=cosine.device)
        cosine, target = cosine[upper[0], upper[1]], target[upper[0], upper[1]]
        # Alike and unlike pairs weigh half each: with six classes five pairs in six are unlike.
        alike = target > 0.5
        weights = torch.where(
            alike, 0.5 / alike.sum().clamp(min=1), 0.5 / (~alike).sum().clamp(min=1)
        )
        self.vectors = None
        return self.weight * (weights * (cosine - target) ** 2).sum()

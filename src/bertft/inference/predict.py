"""`bertft predict` as a function of its settings: texts (`--text`) and files (`--input`) go
through one path, `predict_file`'s (rows read, answered and written alike); a file's in chunks,
resumably."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from bertft.inference.classifier import Classifier
from bertft.inference.predict_file import check_file, existing_output, predict_file, predict_texts
from bertft.settings import PredictSettings

log = logging.getLogger(__name__)


def predict(settings: PredictSettings) -> dict[str, Any]:
    """Label `settings.text` or the rows of `settings.input` with `settings.model` into
    `settings.output` (JSON Lines on stdout without one). Returns a summary: rows, empty texts,
    the row a resumed file run went on from."""
    settings.validate()
    # A bad file or flag, or an output that exists, is refused before the model loads.
    if settings.input:
        check_file(settings)
    elif settings.output and Path(settings.output).exists() and not settings.overwrite:
        raise existing_output(Path(settings.output))
    clf = Classifier.from_pretrained(
        settings.model,
        backend=settings.backend,
        batch_size=settings.batch_size,
        device=settings.device,
        threads=settings.threads,
        pooling=settings.chunk_pooling,
    )
    if settings.threshold is not None:
        clf.positive_index(settings.positive_label)  # other models are refused before work
    # --backend auto chooses by the model folder and device: say which ran
    log.info(
        "bertft: predicting with %s (%s) on %s, %s thread(s)",
        clf.backend,
        clf.source,
        clf.device,
        clf.threads,
    )
    summary = predict_file(clf, settings) if settings.input else predict_texts(clf, settings)
    log.info("long texts: %s", clf.total_stats.describe())
    if settings.output:
        log.info("wrote %s predictions to %s", f"{summary['rows']:,}", settings.output)
    return summary

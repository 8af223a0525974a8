"""Metrics against values worked out by hand, and the loss against torch's."""

from __future__ import annotations

import numpy as np
import pytest

from bertft.metrics import classification_metrics, cross_entropy, format_report, full_report

pytestmark = pytest.mark.unit


def test_headline_metrics_match_hand_computed_values():
    # class 0: tp 2, fp 1, fn 0 -> P 2/3, R 1, F1 .8
    # class 1: tp 1, fp 0, fn 1 -> P 1, R .5, F1 2/3
    y_true, y_pred = [0, 0, 1, 1], [0, 0, 0, 1]
    m = classification_metrics(y_true, y_pred)
    assert m["accuracy"] == 0.75
    assert m["precision_macro"] == pytest.approx((2 / 3 + 1) / 2)
    assert m["recall_macro"] == pytest.approx(0.75)
    assert m["f1_macro"] == pytest.approx((0.8 + 2 / 3) / 2)
    assert m["f1_weighted"] == pytest.approx((0.8 + 2 / 3) / 2)  # equal supports


def test_full_report_per_class_and_confusion_matrix_by_name():
    report = full_report([0, 1, 2, 2, 2], [0, 2, 2, 2, 1], ["a", "b", "c"])
    assert report["per_class"]["c"] == {
        "precision": 2 / 3,
        "recall": 2 / 3,
        "f1": 2 / 3,
        "support": 3,
    }
    assert report["per_class"]["b"]["f1"] == 0.0  # never right: zero, not a warning
    assert report["confusion_matrix"] == {
        "labels": ["a", "b", "c"],
        "matrix": [[1, 0, 0], [0, 0, 1], [0, 1, 2]],
    }
    # A class absent from both truth and predictions still has its row.
    report = full_report([0, 0], [0, 0], ["a", "b"])
    assert report["confusion_matrix"]["matrix"] == [[2, 0], [0, 0]]
    text = format_report(report)
    assert "accuracy           1.0000" in text and "confusion matrix" in text


def test_cross_entropy_matches_torch_plain_and_weighted():
    import torch

    rng = np.random.default_rng(0)
    logits, labels = rng.normal(size=(7, 3)) * 4, np.array([0, 2, 1, 1, 0, 2, 2])
    weights = [0.5, 1.0, 2.5]
    t_logits, t_labels = torch.tensor(logits), torch.tensor(labels)
    plain = torch.nn.functional.cross_entropy(t_logits, t_labels)
    weighted = torch.nn.functional.cross_entropy(
        t_logits, t_labels, torch.tensor(weights, dtype=torch.float64)
    )
    assert cross_entropy(logits, labels) == pytest.approx(float(plain), rel=1e-12)
    assert cross_entropy(logits, labels, weights) == pytest.approx(float(weighted), rel=1e-12)

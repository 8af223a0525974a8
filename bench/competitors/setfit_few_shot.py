"""SetFit 1.2 on a few labelled texts, as its README trains it: contrastive pairs on the body,
then a logistic-regression head. A competitor in bench/few_shot.py, run in the benchmark's own
environment (`pip install setfit==1.2.*`), never a dependency of bertft. Prints one JSON line.

usage: python setfit_few_shot.py MODEL_DIR TRAIN.csv TEST.csv SEED
"""

import csv
import json
import sys
import tempfile
import time

import numpy as np
from datasets import Dataset
from setfit import SetFitModel, Trainer, TrainingArguments
from sklearn.metrics import f1_score

model_dir, train_file, test_file, seed = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])


def read(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return [r["text"] for r in rows], [r["label"] for r in rows]


texts, labels = read(train_file)
test_texts, test_labels = read(test_file)
started = time.perf_counter()
model = SetFitModel.from_pretrained(model_dir)
with tempfile.TemporaryDirectory() as checkpoints:  # never in the repository
    args = TrainingArguments(
        batch_size=16, num_epochs=1, seed=seed, output_dir=checkpoints, save_strategy="no",
        report_to="none",
    )  # fmt: skip
    Trainer(
        model=model, args=args, train_dataset=Dataset.from_dict({"text": texts, "label": labels})
    ).train()
train_seconds = time.perf_counter() - started
predicted = [str(p) for p in model.predict(test_texts)]
print(json.dumps({
    "accuracy": float(np.mean([p == t for p, t in zip(predicted, test_labels, strict=True)])),
    "f1_macro": float(f1_score(test_labels, predicted, average="macro")),
    "train_seconds": round(train_seconds, 1),
}))  # fmt: skip

"""The best-tuned plain Trainer: dynamic padding, length grouping, bf16 autocast where the CPU
has it natively (else fp32: emulated bf16 is several times slower), fused AdamW. What a careful
user gets from the stock Trainer's own switches. A competitor in bench/train_speed.py; prints
one JSON line of results.

usage: python tuned_trainer.py MODEL TRAIN.csv VALIDATION.csv OUT BATCH EPOCHS LR SEED MAX_LENGTH
    PRECISION(bf16|fp32)
"""

import json
import sys

import numpy as np
from datasets import load_dataset
from sklearn.metrics import accuracy_score, f1_score
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    DataCollatorWithPadding,
    Trainer,
    TrainingArguments,
)

model_id, train_file, val_file, out = sys.argv[1:5]
batch, epochs, lr, seed, max_length, precision = sys.argv[5:11]

data = load_dataset("csv", data_files={"train": train_file, "validation": val_file})
labels = sorted(set(data["train"]["label"]))
label2id = {name: i for i, name in enumerate(labels)}
tokenizer = AutoTokenizer.from_pretrained(model_id)


def tokenize(batch):
    encoded = tokenizer(batch["text"], truncation=True, max_length=int(max_length))
    encoded["labels"] = [label2id[x] for x in batch["label"]]
    return encoded


data = data.map(tokenize, batched=True, remove_columns=["text", "label"])
model = AutoModelForSequenceClassification.from_pretrained(
    model_id,
    num_labels=len(labels),
    id2label=dict(enumerate(labels)),
    label2id=label2id,
)


def compute_metrics(pred):
    predictions = np.argmax(pred.predictions, axis=-1)
    return {
        "accuracy": accuracy_score(pred.label_ids, predictions),
        "f1": f1_score(pred.label_ids, predictions, average="macro"),
    }


args = TrainingArguments(
    output_dir=out,
    num_train_epochs=float(epochs),
    per_device_train_batch_size=int(batch),
    per_device_eval_batch_size=int(batch),
    learning_rate=float(lr),
    warmup_steps=0.1,
    weight_decay=0.01,
    eval_strategy="epoch",
    save_strategy="epoch",
    load_best_model_at_end=True,
    metric_for_best_model="f1",
    save_total_limit=2,
    seed=int(seed),
    report_to="none",
    use_cpu=True,
    disable_tqdm=True,
    bf16=precision == "bf16",
    optim="adamw_torch_fused",
    train_sampling_strategy="group_by_length",
)
trainer = Trainer(
    model=model,
    args=args,
    train_dataset=data["train"],
    eval_dataset=data["validation"],
    data_collator=DataCollatorWithPadding(tokenizer),
    compute_metrics=compute_metrics,
)
train = trainer.train()
evaluation = trainer.evaluate()
print(
    json.dumps(
        {
            "train_samples_per_second": train.metrics["train_samples_per_second"],
            "eval_samples_per_second": evaluation["eval_samples_per_second"],
            "accuracy": evaluation["eval_accuracy"],
            "f1_macro": evaluation["eval_f1"],
        }
    )
)

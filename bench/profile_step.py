"""Where a training step's time goes: forward, backward, gradient clipping and the AdamW update
of the bundled MiniLM on real `trec` batches, with and without the word-embedding matrix
trained (`--freeze_embeddings`). Hand loop, same batches for both, interleaved.

    python bench/profile_step.py --batch 32 --steps 20
"""

from __future__ import annotations

import argparse
import random
import time

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16"))
    args = parser.parse_args()

    from bertft.config import DataConfig
    from bertft.data.load import load_splits
    from bertft.hardware import resolve_precision
    from bertft.model import load_classifier, load_tokenizer

    precision = resolve_precision(args.precision)
    splits = load_splits(DataConfig(data="trec"), 42)
    tokenizer = load_tokenizer("minilm")
    labels = splits.labels.encode(splits.train.labels)
    order = list(range(len(labels)))
    random.Random(0).shuffle(order)
    batches = []
    for start in range(0, args.batch * args.steps, args.batch):
        idx = sorted(order[start : start + args.batch], key=lambda i: len(splits.train.texts[i]))
        batch = tokenizer([splits.train.texts[i] for i in idx], padding=True, return_tensors="pt")
        batch["labels"] = torch.tensor([labels[i] for i in idx])
        batches.append(batch)

    runs = {}
    for frozen in (False, True):
        torch.manual_seed(0)
        model = load_classifier("minilm", splits.labels).train()
        if frozen:
            model.get_input_embeddings().weight.requires_grad_(False)
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=1e-4, fused=True)
        runs["frozen embeddings" if frozen else "all parameters"] = (model, params, optimizer)

    phases = ("forward", "backward", "clip", "optimizer")
    totals = {name: dict.fromkeys(phases, 0.0) for name in runs}
    for i, batch in enumerate(batches):
        for name, (model, params, optimizer) in runs.items():
            t = [time.perf_counter()]
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
                loss = model(**batch).loss
            t.append(time.perf_counter())
            loss.backward()
            t.append(time.perf_counter())
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            t.append(time.perf_counter())
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            t.append(time.perf_counter())
            if i >= 2:  # the first steps allocate; leave them out
                for phase, a, b in zip(phases, t, t[1:], strict=False):
                    totals[name][phase] += b - a
    steps = len(batches) - 2
    print(f"MiniLM, trec, batch {args.batch}, {precision}, ms per step (mean of {steps}):")
    print("| run | " + " | ".join(phases) + " | step | samples/s |")
    print("| --- |" + " --- |" * (len(phases) + 2))
    for name, phase_totals in totals.items():
        ms = {k: v / steps * 1000 for k, v in phase_totals.items()}
        step = sum(ms.values())
        cells = " | ".join(f"{ms[p]:.1f}" for p in phases)
        print(f"| {name} | {cells} | {step:.1f} | {args.batch / step * 1000:.1f} |")


if __name__ == "__main__":
    main()

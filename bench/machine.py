"""What the benchmarks ran on, and the matmul peak that model FLOP utilisation is measured
against (measured here, not taken from a data sheet)."""

from __future__ import annotations

import time

import torch


def describe() -> dict:
    """bertft's own machine summary, plus the compute threads torch uses here."""
    from bertft.hardware import describe as machine

    return {**machine(), "torch_threads": torch.get_num_threads()}


def matmul_peak(dtype: torch.dtype, n: int = 2048, seconds: float = 2.0) -> float:
    """Best FLOP/s of an n x n x n matmul in `dtype` on this machine."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    for _ in range(3):
        a @ b
    best, deadline = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best


def encoder_flops_per_token(config, sequence_length: float) -> float:
    """Forward FLOPs per real token of a BERT-style encoder: the weight matmuls (2 per multiply-
    add over the layer parameters) plus attention scores and mixing (grows with length)."""
    d, layers, ffn = config.hidden_size, config.num_hidden_layers, config.intermediate_size
    weights = layers * (4 * d * d + 2 * d * ffn)  # Q, K, V, output; two feed-forward matrices
    attention = layers * 2 * d * sequence_length  # QK^T and attention x V
    return 2 * (weights + attention)

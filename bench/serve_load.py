"""Side by side, in one run: bertft's server (PyTorch and ONNX int8 backends) against a plain
FastAPI + `transformers.pipeline` server (bench/plain_server.py), driven by a closed-loop HTTP
load generator (bench/loadgen.py) on loopback at several concurrencies. Reports p50/p99 latency
and requests/s, the model's bare forward time, and the ratios the targets are stated in.

    python bench/serve_load.py --model runs/trec            # about 4 minutes on 2 cores
    python bench/serve_load.py --model runs/trec --only flood

The flood scenario drives the torch server far past its capacity (--flood_concurrency
connections, each sending again as soon as it is answered) three times: with an unbounded
queue; with shedding (--max_queue) and clients that wait Retry-After after a 429; with shedding
and clients that retry at once. It reports answered requests/s, their p50/p99, and the 429s.

The load generator shares the CPU with the server it measures, so it is written to cost tens of
microseconds per request; on a shared machine the figures are noisy, the ratios less so (every
server is measured the same way in the same run). Raw results: bench/results/serve_trec.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from loadgen import load
from machine import describe

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(cmd: list[str], env: dict[str, str], port: int | None = None):
    """Start a server; returns (process, base URL) once /health answers 200."""
    proc = subprocess.Popen(
        cmd,
        env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    if port is None:  # bertft prints the port it bound
        line = proc.stdout.readline()
        match = re.search(r"listening on (http://[\d.]+:\d+)", line)
        if not match:
            raise RuntimeError(f"server did not start: {line}{proc.stdout.read()}")
        url = match.group(1)
    else:
        url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stdout.read()}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("server never became ready")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def bare_forward_ms(model_dir: Path, onnx_file: Path, texts: list[str]) -> dict[str, float]:
    """Median time of one single-text forward pass (tokenizer included), no HTTP."""
    from bertft.inference.classifier import Classifier

    out = {}
    for name, clf in (
        ("torch", Classifier.from_pretrained(model_dir)),
        ("onnx-int8", Classifier.from_pretrained(onnx_file, backend="onnx")),
    ):
        for text in texts[:10]:
            clf.predict_logits([text])
        times = []
        for text in texts[:200]:
            t0 = time.perf_counter()
            clf.predict_logits([text])
            times.append(time.perf_counter() - t0)
        out[name] = 1000 * statistics.median(times)
    return out


def flood(model: Path, texts: list[str], args) -> list[dict]:
    """The torch server past its capacity, without and with shedding, in one run."""
    rows = []
    bodies = [{"text": t} for t in texts]
    base = [sys.executable, "-m", "bertft", "serve", "--port", "0", "--model", str(model)]
    base += ["--max_batch_texts", str(args.flood_queue)]  # a request must fit the queue
    variants = (
        ("unbounded queue", 0, False),
        ("shedding, clients wait Retry-After", args.flood_queue, True),
        ("shedding, clients retry at once", args.flood_queue, False),
    )
    for name, queue, polite in variants:
        proc, url = start(base + ["--max_queue", str(queue)], {})
        try:
            c = args.flood_concurrency
            r = load(f"{url}/predict", bodies, c, 10**9, args.seconds, honour_retry_after=polite)
        finally:
            stop(proc)
        row = {
            "server": f"bertft torch, {name}",
            "max_queue": queue,
            "concurrency": c,
            "answered": len(r.latencies),
            "answered_per_s": r.requests_per_s,
            "p50_ms": r.percentile_ms(0.5),
            "p99_ms": r.percentile_ms(0.99),
            "shed_429": r.shed,
            "errors": r.errors,
        }
        rows.append(row)
        print(
            f"flood {name:<36} c={c} {row['answered']:>5} answered "
            f"({row['answered_per_s']:.1f}/s)  p50 {row['p50_ms']:7.1f} ms  "
            f"p99 {row['p99_ms']:7.1f} ms  {r.shed} x 429  {r.errors} errors",
            flush=True,
        )
    print("\n| flood (torch) | max_queue | answered/s | p50 ms | p99 ms | 429s | other errors |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['server']} | {r['max_queue']} | {r['answered_per_s']:.1f} | "
            f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['shed_429']} | {r['errors']} |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="runs/trec", help="a model folder from bertft train")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 64])
    parser.add_argument("--requests", type=int, default=3000, help="per server and concurrency")
    parser.add_argument("--seconds", type=float, default=15, help="cap per server and level")
    parser.add_argument("--flood_concurrency", type=int, default=256)
    parser.add_argument("--flood_queue", type=int, default=64, help="--max_queue when shedding")
    parser.add_argument("--only", choices=["flood"], help="run only the flood scenario")
    args = parser.parse_args()
    model = Path(args.model).resolve()

    from bertft.data.load import read_examples

    texts = read_examples("trec").texts[::7][:600]  # real questions, spread over the file
    if args.only == "flood":
        rows = flood(model, texts, args)
        out = {"settings": vars(args), "machine": describe(), "flood": rows}
        path = ROOT / "bench" / "results" / "serve_flood_trec.json"
        path.write_text(json.dumps(out, indent=1) + "\n")
        print(f"raw results: {path.relative_to(ROOT)}")
        return
    work = Path(tempfile.mkdtemp(prefix="serve-load-"))
    onnx_dir = work / "onnx"
    print(f"exporting {model} to int8 in {onnx_dir} ...", flush=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "bertft",
            "export",
            "--model",
            str(model),
            "--quantize",
            "int8",
            "--output_dir",
            str(onnx_dir),
            "--max_accuracy_drop",
            "100",
        ],  # speed only here
        check=True,
        stdout=subprocess.DEVNULL,
    )
    bare = bare_forward_ms(model, onnx_dir / "model.int8.onnx", texts)
    print(f"bare single-text forward (median): {bare}", flush=True)

    bertft = [sys.executable, "-m", "bertft", "serve", "--port", "0"]
    servers = {
        "bertft torch": (bertft + ["--model", str(model)], {}, None),
        "bertft onnx-int8": (bertft + ["--model", str(onnx_dir), "--backend", "onnx"], {}, None),
    }
    port = free_port()
    plain = [
        sys.executable,
        "-m",
        "uvicorn",
        "plain_server:app",
        "--app-dir",
        str(ROOT / "bench"),
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    servers["plain pipeline"] = (plain, {"MODEL_DIR": str(model)}, port)

    bodies = [{"text": t} for t in texts]
    rows = []
    for name, (cmd, env, fixed_port) in servers.items():
        proc, url = start(cmd, env, fixed_port)
        try:
            for c in args.concurrency:
                r = load(f"{url}/predict", bodies, c, args.requests, args.seconds)
                row = {
                    "server": name,
                    "concurrency": c,
                    "requests": len(r.latencies),
                    "p50_ms": r.percentile_ms(0.5),
                    "p99_ms": r.percentile_ms(0.99),
                    "requests_per_s": r.requests_per_s,
                    "errors": r.errors,
                }
                rows.append(row)
                print(
                    f"{name:<18} c={c:<3} {row['requests']:>4} req  p50 {row['p50_ms']:7.1f} ms  "
                    f"p99 {row['p99_ms']:7.1f} ms  {row['requests_per_s']:7.1f} req/s  "
                    f"{r.errors} errors",
                    flush=True,
                )
        finally:
            stop(proc)

    print("\n| server | concurrency | requests | p50 ms | p99 ms | requests/s |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['server']} | {r['concurrency']} | {r['requests']} | {r['p50_ms']:.1f} | "
            f"{r['p99_ms']:.1f} | {r['requests_per_s']:.1f} |"
        )
    by = {(r["server"], r["concurrency"]): r for r in rows}
    top = max(args.concurrency)
    base = by[("plain pipeline", top)]
    print(
        f"\nbare single-text forward: torch {bare['torch']:.1f} ms, "
        f"onnx-int8 {bare['onnx-int8']:.1f} ms"
    )
    ratios = {}
    for name, backend in (("bertft torch", "torch"), ("bertft onnx-int8", "onnx-int8")):
        mine = by[(name, top)]
        ratio = ratios[name] = {
            "throughput_vs_plain": mine["requests_per_s"] / base["requests_per_s"],
            "p99_ms": mine["p99_ms"],
            "plain_p99_ms": base["p99_ms"],
            "c1_p50_vs_bare_forward": by[(name, 1)]["p50_ms"] / bare[backend],
        }
        print(
            f"{name}: c={top} throughput {ratio['throughput_vs_plain']:.1f}x plain, p99 "
            f"{ratio['p99_ms']:.0f} vs {ratio['plain_p99_ms']:.0f} ms; "
            f"c=1 p50 {ratio['c1_p50_vs_bare_forward']:.2f}x its bare forward"
        )
    out = {
        "settings": vars(args),
        "machine": describe(),
        "bare_forward_ms": bare,
        "rows": rows,
        "ratios_at_top_concurrency": ratios,
        "flood": flood(model, texts, args),
    }
    path = ROOT / "bench" / "results" / "serve_trec.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"raw results: {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

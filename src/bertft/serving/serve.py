"""`bertft serve`: a trained model behind HTTP, micro-batched; the process side: settings,
the listening socket, one or several worker processes.

The app is in `app.py` (routes in `routes.py`, client formats in `codecs/`, the model's life in
`lifecycle.py`). Routes: POST /predict (also /invocations for SageMaker and / for Hugging Face
endpoints), GET /health, /ping, /readyz, /livez, /info, /metrics (Prometheus), / (a web page).
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from bertft.errors import BertftError
from bertft.settings import ServeSettings

SETTINGS_ENV = "BERTFT_SERVE_SETTINGS"  # how --workers > 1 hands settings to each worker
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's multiprocess mode


def check_model(settings: ServeSettings) -> None:
    """Refuse a missing model before the server starts, with the same message as `predict`."""
    from bertft.inference.classifier import find_onnx_file

    path = Path(settings.model)
    folder = find_onnx_file(path).parent if settings.backend == "onnx" else path
    if not (folder / "config.json").is_file():
        raise BertftError(
            f"{folder}: not a model folder (no config.json); "
            f"point --model at the output folder of `bertft train` or `bertft export`"
        )


def _loader(settings: ServeSettings) -> Callable:
    def load():
        from bertft.inference.classifier import Classifier

        clf = Classifier.from_pretrained(
            settings.model,
            backend=settings.backend,
            batch_size=settings.max_batch_size,
            threads=settings.threads,
            device=settings.device,
        )
        # One forward pass before /health says ready, so the first request does not pay for
        # lazy imports, the thread pools' start and the backend's first-call allocations.
        clf.predict_logits(["warm up"], ["warm up"] if clf.pair_column else None)
        return clf

    return load


def app_from_env():
    """The app for uvicorn's factory mode (--workers > 1): settings come from the environment."""
    from bertft.serving.app import create_app

    settings = ServeSettings(**json.loads(os.environ[SETTINGS_ENV]))
    return create_app(_loader(settings), settings)


def serve(settings: ServeSettings) -> None:
    """Run the server until interrupted. Prints the address it listens on (the real port when
    --port 0 asks for a free one)."""
    settings.validate()
    check_model(settings)
    # torch's OpenMP threads spin for a while after each parallel region by default, taking
    # the cores from the event loop that parses requests between forward passes. Sleeping
    # idle threads gave the torch backend 40% more requests/s at concurrency 64 on 2 cores
    # (bench/serve_load.py). OpenMP reads this once, when torch loads: that is after here.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    # A device that cannot be used is refused before listening. auto and cpu always work, and
    # checking them would load torch in this process (the workers' parent, with --workers).
    if settings.device not in ("auto", "cpu"):
        from bertft.inference.classifier import check_device

        check_device(settings.backend, settings.device)
    if settings.workers > 1 and settings.threads is None:
        from bertft.hardware import available_cpus

        # Each worker runs its own forward passes: N workers each using every core would
        # fight over them, so the cores are shared out.
        settings.threads = max(1, available_cpus() // settings.workers)
    import uvicorn

    sock = _listen(settings.host, settings.port)
    port = sock.getsockname()[1]
    workers = f"{settings.workers} workers" if settings.workers > 1 else "1 worker"
    keys = f", {len(settings.api_key)} API key(s)" if settings.api_key else ""  # never the keys
    print(
        f"bertft serve: listening on http://{settings.host}:{port} "
        f"(model {settings.model}, backend {settings.backend}, {workers}{keys}; loading)",
        flush=True,
    )
    if settings.workers == 1:
        from bertft.serving.app import create_app

        app = create_app(_loader(settings), settings)
        config = uvicorn.Config(app, log_level=settings.log_level, access_log=False)
        uvicorn.Server(config).run(sockets=[sock])
        return
    # Several processes on one socket, each with its own model copy and batcher: what
    # uvicorn.run(workers=N) does, but on our socket (port 0 and TCP_NODELAY work the same).
    os.environ[SETTINGS_ENV] = json.dumps(asdict(settings))
    # Every worker writes its metrics to files in one folder; a scrape of any worker sums them.
    own_folder = not os.environ.get(MULTIPROCESS_ENV)
    if own_folder:
        os.environ[MULTIPROCESS_ENV] = tempfile.mkdtemp(prefix="bertft-metrics-")
    try:
        _run_workers(settings, sock)
    finally:
        if own_folder:
            shutil.rmtree(os.environ.pop(MULTIPROCESS_ENV), ignore_errors=True)


def _run_workers(settings: ServeSettings, sock: socket.socket) -> None:
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(
        "bertft.serving.serve:app_from_env",
        factory=True,
        workers=settings.workers,
        log_level=settings.log_level,
        access_log=False,
    )
    # uvicorn < 0.36 takes the worker function; later versions build it from the config.
    extra = {}
    if "target" in inspect.signature(Multiprocess).parameters:
        extra["target"] = uvicorn.Server(config).run
    Multiprocess(config, sockets=[sock], **extra).run()


def _listen(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit this. asyncio sets it itself only on sockets whose proto is
    # IPPROTO_TCP, and this one's is 0 (uvicorn's own is too); without it a response's header
    # and body writes meet Nagle's algorithm and the client's delayed ACK: 40+ ms added to
    # every keep-alive request (measured here with httpx).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as e:
        raise BertftError(f"cannot listen on {host}:{port}: {e.strerror}") from None
    sock.set_inheritable(True)  # worker processes accept on it
    return sock

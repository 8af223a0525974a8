# CPU inference image for `bertft serve`, usable as it is as a SageMaker inference container
# (SageMaker runs `docker run IMAGE serve`, mounts the model at /opt/ml/model, checks GET /ping
# and sends traffic to POST /invocations on port 8080) and on Kubernetes (probes: /livez for
# liveness, /readyz for readiness; both stay open with API keys). See docs/deploy.md.
# Not built here (no Docker daemon or registry on the development machines).
#
#   docker build -t bertft .
#   docker run --rm -p 8080:8080 -v "$PWD/runs/trec:/opt/ml/model:ro" bertft
#   docker run --rm -p 8080:8080 -v "$PWD/runs/trec/onnx:/opt/ml/model:ro" \
#       -e BERTFT_BACKEND=onnx -e BERTFT_API_KEY=k1,k2 bertft
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false \
    BERTFT_MODEL=/opt/ml/model \
    BERTFT_HOST=0.0.0.0 \
    BERTFT_PORT=8080

WORKDIR /opt/bertft

# The CPU wheel, pinned like the Makefile: PyPI's default Linux torch wheel pulls in CUDA
# libraries (several GB) that a CPU server never uses. Its own layer, so code changes reuse it.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install . && groupadd --system --gid 1000 bertft \
    && useradd --system --uid 1000 --gid 1000 --create-home bertft

# Numeric, so that Kubernetes' runAsNonRoot can check it; it only needs to read /opt/ml/model.
USER 1000:1000
EXPOSE 8080
STOPSIGNAL SIGTERM
# Liveness for plain Docker; SageMaker calls GET /ping and Kubernetes its own probes.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['BERTFT_PORT'] + '/livez', timeout=4)"

ENTRYPOINT ["bertft"]
CMD ["serve"]

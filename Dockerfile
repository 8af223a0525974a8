# CPU inference image for `bertft serve`, usable as it is as a SageMaker inference container
# (SageMaker runs `docker run IMAGE serve`, mounts the model at /opt/ml/model and sends traffic
# to port 8080). See docs/deploy.md.
#
#   docker build -t bertft .
#   docker run --rm -p 8080:8080 -v "$PWD/runs/trec:/opt/ml/model:ro" bertft
#   docker run --rm -p 8080:8080 -v "$PWD/runs/trec/onnx:/opt/ml/model:ro" \
#       -e BERTFT_BACKEND=onnx bertft
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
RUN pip install . && useradd --system --uid 1000 bertft

USER bertft
EXPOSE 8080
# Liveness for plain Docker; SageMaker uses GET /ping itself.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ['BERTFT_PORT'] + '/health', timeout=4)"

ENTRYPOINT ["bertft"]
CMD ["serve"]

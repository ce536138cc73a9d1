# syntax=docker/dockerfile:1
# An AI node (`meeting gpu-node`): Triton (inside the PyTriton wheel) serving speech recognition,
# emotion and speech synthesis on an NVIDIA GPU, and the caption worker. The host needs the
# NVIDIA driver and the NVIDIA Container Toolkit. Build from the repository root:
#   docker build -f infra/containers/gpu-node.Dockerfile -t meeting-gpu-node .

# CUDA 12 with cuDNN 9: what the PyPI builds of onnxruntime-gpu and CTranslate2 (Whisper) load.
ARG CUDA_IMAGE=nvcr.io/nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04
ARG PYTHON_VERSION=3.11

# --- uv from PyPI (one static binary), the range the Makefile uses ------------------------
FROM python:3.11-slim-bookworm AS uv
RUN pip install --no-cache-dir "uv>=0.9,<1"

# --- the Python environment: uv.lock with the `ai` extra, ONNX Runtime's CUDA build ----------
FROM ${CUDA_IMAGE} AS python
ARG PYTHON_VERSION
COPY --from=uv /usr/local/bin/uv /usr/local/bin/uv
# A uv-managed CPython: it comes with libpython as a shared library, which Triton's Python
# backend loads (the CUDA image has no Python of its own).
ENV UV_PROJECT_ENVIRONMENT=/opt/venv UV_PYTHON_INSTALL_DIR=/opt/python \
    UV_PYTHON_PREFERENCE=only-managed UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy
RUN uv python install "${PYTHON_VERSION}"
WORKDIR /src
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --extra ai --no-install-project --python "${PYTHON_VERSION}"
COPY README.md ./
COPY shared shared
COPY functions functions
COPY sfu_node sfu_node
COPY gpu_node gpu_node
COPY launcher launcher
RUN uv sync --frozen --no-dev --extra ai --no-editable --python "${PYTHON_VERSION}"
# Both wheels provide the `onnxruntime` module, so the CPU build makes way for the CUDA one: the
# newest not newer than the locked CPU build (the GPU build is sometimes published later).
RUN version="$(/opt/venv/bin/python -c 'import importlib.metadata as m; print(m.version("onnxruntime"))')" \
    && uv pip uninstall --python /opt/venv/bin/python onnxruntime \
    && uv pip install --python /opt/venv/bin/python "onnxruntime-gpu<=${version}"

# --- what runs ----------------------------------------------------------------------------
FROM ${CUDA_IMAGE}
COPY --from=python /opt/python /opt/python
COPY --from=python /opt/venv /opt/venv
# libpython on the loader's path too, whatever LD_LIBRARY_PATH Triton's processes inherit.
RUN ln -sf /opt/python/cpython-*/lib/libpython3*.so* /usr/local/lib/ && ldconfig \
    && groupadd --system --gid 10001 meeting \
    && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /var/lib/meeting meeting
COPY infra/containers/healthcheck.py /opt/meeting/healthcheck.py
# AI_NODE_HOST is the address Triton binds and the node announces: give the container's name.
# Model files are prepared once into DATA_DIR/models (keep DATA_DIR on a volume).
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 DATA_DIR=/var/lib/meeting \
    AI_NODE_HOST=127.0.0.1 AI_HTTP_PORT=8000 AI_GRPC_PORT=8001 AI_METRICS_PORT=8002 \
    NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility
USER 10001:10001
WORKDIR /var/lib/meeting
EXPOSE 8000 8001 8002
# Triton answers ready once every model is loaded; the first start prepares the model files.
HEALTHCHECK --interval=15s --timeout=6s --start-period=180s --retries=3 \
    CMD ["python", "/opt/meeting/healthcheck.py", "http://${AI_NODE_HOST}:${AI_HTTP_PORT}/v2/health/ready"]
CMD ["meeting", "gpu-node"]

# syntax=docker/dockerfile:1
# A media node (`meeting sfu`: signaling WebSocket and the SFU). WebRTC media needs UDP: see
# infra/containers/README.md for the ports. Build from the repository root:
#   docker build -f infra/containers/media-node.Dockerfile -t meeting-media-node .

ARG PYTHON_VERSION=3.11

# --- the Python environment, exactly as uv.lock says ----------------------------------------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS python
RUN pip install --no-cache-dir "uv>=0.9,<1"
ENV UV_PROJECT_ENVIRONMENT=/opt/venv UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never
WORKDIR /src
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project
COPY README.md ./
COPY shared shared
COPY functions functions
COPY sfu_node sfu_node
COPY gpu_node gpu_node
COPY launcher launcher
RUN uv sync --frozen --no-dev --no-editable

# --- what runs: no ffmpeg (the node stores recordings as packet captures; PyAV, which decodes
# speech for the caption taps, brings its own libraries) --------------------------------------
FROM python:${PYTHON_VERSION}-slim-bookworm
RUN groupadd --system --gid 10001 meeting \
    && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /var/lib/meeting meeting
COPY --from=python /opt/venv /opt/venv
COPY infra/containers/healthcheck.py /opt/meeting/healthcheck.py
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 PORT=7880 DATA_DIR=/var/lib/meeting
USER 10001:10001
WORKDIR /var/lib/meeting
EXPOSE 7880
HEALTHCHECK --interval=15s --timeout=6s --start-period=30s --retries=3 \
    CMD ["python", "/opt/meeting/healthcheck.py", "http://127.0.0.1:${PORT}/health"]
CMD ["meeting", "sfu"]

# syntax=docker/dockerfile:1
# The gateway (`meeting serve`: every function and the web client). The same image runs the
# one-shot `meeting migrate` and the mixing worker `meeting mixer` (it has ffmpeg).
# Build from the repository root:
#   docker build -f infra/containers/gateway.Dockerfile -t meeting-gateway .

ARG PYTHON_VERSION=3.11

# --- the web client: TypeScript to static files (Vite needs Node.js >= 20.19) ------------------
FROM node:22-bookworm-slim AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

# --- the Python environment, exactly as uv.lock says ----------------------------------------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS python
# uv from PyPI, the range the Makefile uses.
RUN pip install --no-cache-dir "uv>=0.9,<1"
ENV UV_PROJECT_ENVIRONMENT=/opt/venv UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never
WORKDIR /src
# Dependencies first: this layer is rebuilt only when the lock changes, not on every code change.
COPY pyproject.toml uv.lock ./
RUN uv sync --frozen --no-dev --no-install-project
COPY README.md ./
COPY shared shared
COPY functions functions
COPY sfu_node sfu_node
COPY gpu_node gpu_node
COPY launcher launcher
RUN uv sync --frozen --no-dev --no-editable

# --- what runs ----------------------------------------------------------------------------
FROM python:${PYTHON_VERSION}-slim-bookworm
# ffprobe checks uploads and makes thumbnails; ffmpeg mixes recordings (`meeting mixer`).
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 meeting \
    && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /var/lib/meeting meeting
COPY --from=python /opt/venv /opt/venv
COPY --from=web /src/web/dist /opt/meeting/web
COPY infra/containers/healthcheck.py /opt/meeting/healthcheck.py
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 PORT=8800 WEB_DIR=/opt/meeting/web DATA_DIR=/var/lib/meeting
USER 10001:10001
WORKDIR /var/lib/meeting
EXPOSE 8800
# /health checks the database, the state store and the bucket: 503 while one is down.
HEALTHCHECK --interval=15s --timeout=6s --start-period=60s --retries=3 \
    CMD ["python", "/opt/meeting/healthcheck.py", "http://127.0.0.1:${PORT}/health"]
CMD ["meeting", "serve"]

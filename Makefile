# meeting-system: `make run` starts everything on embedded defaults; `make test` runs the whole
# suite against real PostgreSQL, Redis and SeaweedFS (installed and started by the suite itself).

PYTHON ?= python3
TOOLS  := .tools
UV     := $(TOOLS)/bin/uv
RUN    := $(UV) run --frozen

.PHONY: help install web run serve migrate admin test test-fast lint format typecheck bench-api bench-sfu bench-events bench-ai bench-recording lambda-bundle emulator deploy-local deploy clean

help:
	@echo "make run        install, build the web client, migrate and start the gateway on http://127.0.0.1:8800"
	@echo "make test       install system deps, then lint, type-check and run every test"
	@echo "make bench-api  measure API latency/throughput, write docs/benchmarks.md"
	@echo "make bench-sfu  measure SFU forwarding on one core, write docs/benchmarks.md"
	@echo "make bench-events  measure the outbox relay, Kafka and a consumer, write docs/benchmarks.md"
	@echo "make bench-ai   measure ASR, captions, TTS and emotion latency on the AI node, write docs/benchmarks.md"
	@echo "make bench-recording  measure the recorder's CPU per packet and the mixing speed, write docs/benchmarks.md"
	@echo "make deploy-local  build the Lambda packages and deploy infra/template.yaml to the local AWS emulator"
	@echo "make deploy     the same to AWS (docs/deploy.md)"
	@echo "make admin      create an administrator account"
	@echo "make web        build the browser client into web/dist (npm ci + vite, when sources changed)"

# uv lives in its own small venv so that `uv sync` (exact) never uninstalls it from .venv.
$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check "uv>=0.9,<1"

install: $(UV)
	$(UV) sync --frozen --all-extras

# The browser client (web/): rebuilt when web/dist is missing or older than its sources; npm ci
# runs again only when package-lock.json changed. Needs Node.js >= 20.19 (Vite 7).
WEB_SOURCES := $(shell find web/src -type f 2>/dev/null) web/index.html web/tsconfig.json \
	web/vite.config.ts web/package.json

web: web/dist/index.html

web/node_modules/.package-lock.json: web/package-lock.json
	@command -v npm >/dev/null || { echo "make web: npm is missing; install Node.js >= 20.19" >&2; exit 1; }
	cd web && npm ci --no-audit --no-fund

web/dist/index.html: web/node_modules/.package-lock.json $(WEB_SOURCES)
	cd web && npm run build
	@touch $@

run: install web
	scripts/install-system-deps.sh ffmpeg
	$(RUN) meeting migrate
	$(RUN) meeting serve

serve: install
	$(RUN) meeting serve --migrate

migrate: install
	$(RUN) meeting migrate

admin: install
	$(RUN) meeting admin create

lint: install
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) lint-imports

format: install
	$(RUN) ruff format .
	$(RUN) ruff check --fix .

typecheck: install
	$(RUN) mypy

test: install web
	scripts/install-system-deps.sh
	scripts/install-kafka.sh
	$(RUN) python -m scripts.emulator install
	$(MAKE) --no-print-directory lint typecheck
	cd web && npm run --silent test
	$(RUN) pytest

test-fast: install
	$(RUN) pytest -x -q -m "unit or domain or contract"

bench-api: install
	scripts/install-system-deps.sh postgresql redis-server ffmpeg wrk
	$(RUN) python -m scripts.bench_api

bench-events: install
	scripts/install-system-deps.sh postgresql
	scripts/install-kafka.sh
	$(RUN) python -m scripts.bench_events

bench-recording: install
	scripts/install-system-deps.sh ffmpeg
	$(RUN) python -m scripts.bench_recording

bench-ai: install
	scripts/install-system-deps.sh espeak-ng
	$(RUN) python -m scripts.bench_ai

bench-sfu: install web
	scripts/install-system-deps.sh chromium
	$(RUN) python -m scripts.bench_sfu

# The functions on Lambda + API Gateway (infra/template.yaml). deploy-local targets the local AWS
# emulator (started here in the background when it is not running; `make emulator` runs it in the
# foreground); deploy targets AWS with the credentials boto3 finds. Settings: docs/deploy.md.
lambda-bundle: install
	$(RUN) python -m scripts.build_lambda

emulator: install
	$(RUN) python -m scripts.emulator run

deploy-local: install
	$(RUN) python -m scripts.emulator install
	$(RUN) python -m scripts.deploy --local

deploy: install
	$(RUN) python -m scripts.deploy

clean:
	rm -rf .venv $(TOOLS) build .mypy_cache .ruff_cache .pytest_cache web/dist web/node_modules

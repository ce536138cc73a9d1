"""The images and the compose stack, checked without a Docker engine: the compose file resolves
with Docker Compose itself, everything it names exists (Dockerfiles, `meeting` commands,
settings, services, ports), the Dockerfiles lint clean and run commands that exist, and the
monitoring configuration (Prometheus, Grafana, the OpenTelemetry collector, coturn) agrees with
the stack and with the metrics the code defines."""

from __future__ import annotations

import ipaddress
import json
import re
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from prometheus_client import REGISTRY
from prometheus_client.metrics_core import Metric

import meeting_launcher.gateway  # noqa: F401 - registers the http_* metrics
from meeting_shared.settings import Settings
from scripts.grafana_dashboards import DASHBOARD_DIR, dashboard_files
from tests.deploy.stack import (
    BIN,
    COMPOSE_FILE,
    COMPOSE_SECRETS,
    CONTAINERS,
    INFRA,
    REPO_ROOT,
    TRITON_METRICS,
    Dockerfile,
    cli_accepts,
    dockerfiles,
    resolved_compose,
    run_compose,
)

pytestmark = pytest.mark.unit

SETTINGS = frozenset(name.upper() for name in Settings.model_fields)
# Variables the third-party images read, by image name (before the tag).
THIRD_PARTY_ENV = {
    "postgres": {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"},
    "chrislusf/seaweedfs": {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"},
    "grafana/grafana": {"GF_SECURITY_ADMIN_PASSWORD", "GF_USERS_ALLOW_SIGN_UP"},
}
KAFKA_IMAGE_ENV = re.compile(r"^(KAFKA_[A-Z_]+|CLUSTER_ID)$")  # apache/kafka: KAFKA_<property>
METRIC_NAME = re.compile(r"\b(?:meeting|http|nv)_[a-z0-9_]+\b")


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    return resolved_compose()


@pytest.fixture(scope="module")
def services(stack: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = stack["services"]
    return found


def ours(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The services that run our images (built from infra/containers)."""
    return {name: s for name, s in services.items() if "build" in s}


def dockerfile_of(service: dict[str, Any]) -> Dockerfile:
    build = service["build"]
    return Dockerfile(Path(build["context"]) / build["dockerfile"])


def environment(service: dict[str, Any]) -> dict[str, str]:
    """What the process sees: the image's ENV, then the service's environment."""
    env = dockerfile_of(service).env() if "build" in service else {}
    return {**env, **{k: str(v) for k, v in (service.get("environment") or {}).items()}}


def settings_of(service: dict[str, Any]) -> Settings:
    """The settings the service's process builds (validated as the process would; nothing is
    read from this machine's environment)."""
    env = environment(service)
    return Settings.model_validate({k.lower(): v for k, v in env.items() if k in SETTINGS})


def published(service: dict[str, Any], protocol: str) -> set[int]:
    return {
        int(port["published"])
        for port in service.get("ports", [])
        if port.get("protocol", "tcp") == protocol
    }


# --- compose ------------------------------------------------------------------------------


def test_docker_compose_resolves_the_file_and_demands_the_secrets() -> None:
    assert yaml.safe_load(COMPOSE_FILE.read_text())["services"]  # plain YAML, too
    assert run_compose("config", "--quiet").returncode == 0
    missing = run_compose("config", "--quiet", env={**COMPOSE_SECRETS, "JWT_SECRET": ""})
    assert missing.returncode != 0
    assert "JWT_SECRET" in missing.stderr


def test_every_image_of_ours_is_built_from_a_dockerfile_here(
    services: dict[str, dict[str, Any]],
) -> None:
    built = {dockerfile_of(s).path for s in ours(services).values()}
    assert all(path.is_file() for path in built)
    assert {Path(s["build"]["context"]) for s in ours(services).values()} == {REPO_ROOT}
    assert built == set(CONTAINERS.glob("*.Dockerfile"))  # each Dockerfile is used


def test_every_command_of_ours_is_a_meeting_command(services: dict[str, dict[str, Any]]) -> None:
    commands = {}
    for name, service in ours(services).items():
        argv = service.get("command") or dockerfile_of(service).cmd()
        accepted, output = cli_accepts(argv)
        assert accepted, f"{name}: {argv}: {output}"
        commands[name] = argv[1]
    assert sorted(commands.values()) == sorted(
        ["migrate", "serve", "sfu", "sfu", "mixer", "gpu-node"]
    )


def test_the_old_recorder_command_is_a_deprecated_alias_of_the_mixer() -> None:
    accepted, output = cli_accepts(["meeting", "recorder"])
    assert accepted, output
    assert "deprecated" in output.lower() and "meeting mixer" in output


def test_every_variable_set_is_a_setting_or_read_by_its_image(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        names = set(service.get("environment") or {})
        if "build" in service:
            unknown = names - SETTINGS
        else:
            image = service["image"].rsplit(":", 1)[0]
            unknown = {
                n
                for n in names - THIRD_PARTY_ENV.get(image, set())
                if not (image == "apache/kafka" and KAFKA_IMAGE_ENV.match(n))
            }
        assert not unknown, f"{name} sets {sorted(unknown)}"


def test_the_settings_each_process_gets_are_valid(services: dict[str, dict[str, Any]]) -> None:
    for name, service in ours(services).items():
        settings = settings_of(service)
        assert settings.uses_kafka and settings.uses_redis and settings.uses_s3, name
        assert not (settings.embedded_media_node or settings.embedded_ai_node), name


def test_media_nodes_are_listed_with_their_own_ports(services: dict[str, dict[str, Any]]) -> None:
    nodes = {n: s for n, s in ours(services).items() if s["command"][1] == "sfu"}
    by_id = {node.id: node for node in settings_of(services["gateway"]).media_nodes}
    assert len(nodes) == len(by_id) >= 1
    for name, service in nodes.items():
        env = environment(service)
        node = by_id[env["NODE_ID"]]
        assert urlsplit(node.signaling_url).port == int(env["PORT"])
        assert int(env["PORT"]) in published(service, "tcp")
        # ICE binds ephemeral ports: the kernel's range must be the UDP range published 1:1.
        low, high = map(int, service["sysctls"]["net.ipv4.ip_local_port_range"].split())
        assert published(service, "udp") == set(range(low, high + 1)), name
        assert {p["target"] for p in service["ports"] if p["protocol"] == "udp"} == set(
            range(low, high + 1)
        )


def test_dependencies_exist_and_ports_do_not_collide(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        assert set(service.get("depends_on") or {}) <= set(services), name
    bound = Counter(
        (port.get("host_ip", ""), int(port["published"]), port.get("protocol", "tcp"))
        for service in services.values()
        for port in service.get("ports", [])
    )
    assert [key for key, count in bound.items() if count > 1] == []


def test_processes_without_the_images_http_port_check_their_own_health(
    services: dict[str, dict[str, Any]],
) -> None:
    # The gateway image's healthcheck asks PORT's /health: only `meeting serve` answers there.
    for name, service in ours(services).items():
        if service["command"][1] in ("migrate", "mixer"):
            check = service["healthcheck"]
            assert check.get("disable") or "METRICS_PORT" in " ".join(check["test"]), name


def test_the_gpu_node_reserves_a_gpu_and_is_optional(services: dict[str, dict[str, Any]]) -> None:
    gpu = services["gpu-node"]
    devices = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]
    assert gpu["profiles"] == ["gpu"]
    assert not any("gpu-node" in (s.get("depends_on") or {}) for s in services.values())


# --- Dockerfiles --------------------------------------------------------------------------


def test_dockerfiles_lint_clean() -> None:
    paths = [str(path) for path in sorted(CONTAINERS.glob("*.Dockerfile"))]
    result = subprocess.run(
        [str(BIN / "hadolint"), *paths], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("dockerfile", "health_path"),
    [
        ("gateway.Dockerfile", "/health"),
        ("media-node.Dockerfile", "/health"),
        ("gpu-node.Dockerfile", "/v2/health/ready"),
    ],
)
def test_images_run_meeting_as_a_user_and_check_health(dockerfile: str, health_path: str) -> None:
    image = dockerfiles()[dockerfile]
    accepted, output = cli_accepts(image.cmd())
    assert accepted, output
    (user,) = image.final("USER")
    assert not user.arguments.startswith(("0", "root"))
    probe = image.healthcheck()
    assert probe[:2] == ["python", "/opt/meeting/healthcheck.py"]
    assert probe[1] in image.copied_from_context()
    url = urlsplit(probe[2])
    assert url.path == health_path
    port_variable = url.netloc.rsplit(":", 1)[1].strip("${}")
    assert port_variable in image.env() and port_variable in SETTINGS
    syncs = [i.arguments for i in image.instructions if "uv sync" in i.arguments]
    assert syncs and all("--frozen" in s and "--no-dev" in s for s in syncs)


def test_the_gateway_and_media_node_serve_the_health_path(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from meeting_launcher.gateway import create_gateway
    from meeting_sfu.app import create_sfu_app

    token = "a scrape token"
    settings = Settings.model_validate(
        {"data_dir": tmp_path, "embedded_ai_node": False, "metrics_token": token}
    )
    for app in (create_gateway(settings), create_sfu_app(settings)):
        client = TestClient(app)  # in process, no lifespan: only the routes are asked
        assert client.get("/health").status_code in (200, 503)  # 503: a dependency down
        assert client.get("/metrics").status_code == 401
        scraped = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert "meeting_media_rooms" in scraped.text


def test_the_gpu_image_runs_the_ai_extra_on_cuda() -> None:
    image = dockerfiles()["gpu-node.Dockerfile"]
    (base,) = {
        i.arguments for i in image.instructions if i.keyword == "ARG" and "CUDA" in i.arguments
    }
    assert base.startswith("CUDA_IMAGE=nvcr.io/nvidia/cuda:12.") and "cudnn-runtime" in base
    text = image.path.read_text()
    assert "--extra ai" in text
    assert "uv pip uninstall --python /opt/venv/bin/python onnxruntime" in text
    assert '"onnxruntime-gpu<=${version}"' in text


def test_the_gateway_image_has_the_web_client_and_ffmpeg() -> None:
    image = dockerfiles()["gateway.Dockerfile"]
    env = image.env()
    assert any(
        i.arguments == f"--from=web /src/web/dist {env['WEB_DIR']}" for i in image.final("COPY")
    )
    assert any("ffmpeg" in i.arguments for i in image.final("RUN"))
    stages = [i.arguments for i in image.instructions if i.keyword == "FROM"]
    assert stages[0].startswith("node:22") and stages[0].endswith(" AS web")


def test_dockerignore_sends_what_the_images_copy() -> None:
    patterns = [
        line for line in (REPO_ROOT / ".dockerignore").read_text().splitlines() if line.strip()
    ]
    rules = [p for p in patterns if not p.startswith("#")]
    assert rules[0] == "*"  # an allow-list: nothing goes to the builder unless named
    allowed = {p.removeprefix("!").rstrip("/") for p in rules if p.startswith("!")}
    for image in dockerfiles().values():
        for instruction in image.instructions:
            if instruction.keyword == "COPY" and not instruction.arguments.startswith("--from"):
                for source in instruction.arguments.split()[:-1]:
                    top = source.rstrip("/")
                    assert top in allowed or top.split("/")[0] in allowed, (image.path, source)


# --- monitoring ---------------------------------------------------------------------------


def exposed_names(family: Metric) -> set[str]:
    """The series names a family appears under in Prometheus."""
    if family.type == "counter":
        return {f"{family.name}_total"}
    if family.type == "histogram":
        return {f"{family.name}_{suffix}" for suffix in ("bucket", "count", "sum")}
    return {family.name}


def our_metrics() -> dict[str, set[str]]:
    return {
        family.name: exposed_names(family)
        for family in REGISTRY.collect()
        if family.name.startswith(("meeting_", "http_"))
    }


def dashboard_queries() -> dict[str, list[str]]:
    queries: dict[str, list[str]] = {}
    for path in sorted(DASHBOARD_DIR.glob("*.json")):
        board = json.loads(path.read_text())
        queries[path.name] = [t["expr"] for p in board["panels"] for t in p["targets"]]
    return queries


def test_dashboards_are_the_generated_ones() -> None:
    on_disk = {path.name: path.read_text() for path in DASHBOARD_DIR.glob("*.json")}
    assert on_disk == dashboard_files(), "run python -m scripts.grafana_dashboards"


def test_every_metric_a_dashboard_reads_is_defined() -> None:
    import meeting_sfu.recording.mixing  # noqa: F401 - every module that defines metrics is loaded

    defined = set().union(*our_metrics().values()) | TRITON_METRICS
    for board, queries in dashboard_queries().items():
        for query in queries:
            names = set(METRIC_NAME.findall(query))
            assert names, query
            assert names <= defined, f"{board}: {sorted(names - defined)}"


def test_every_meeting_metric_is_on_a_dashboard() -> None:
    read = {
        name for qs in dashboard_queries().values() for q in qs for name in METRIC_NAME.findall(q)
    }
    for family, names in our_metrics().items():
        assert names & read, f"{family} is on no dashboard"
    assert {"overview.json", "media.json", "ai.json", "recording.json"} == set(dashboard_queries())


def test_prometheus_scrapes_each_metrics_port_of_the_stack(
    services: dict[str, dict[str, Any]],
) -> None:
    config = yaml.safe_load((INFRA / "prometheus" / "prometheus.yml").read_text())
    targets = {
        target
        for job in config["scrape_configs"]
        for c in job["static_configs"]
        for target in c["targets"]
    }
    expected = set()
    for name, service in ours(services).items():
        env = environment(service)
        if service["command"][1] in ("serve", "sfu", "mixer", "gpu-node"):
            # /metrics on a port of their own, never on the public API or signaling port.
            assert "METRICS_TOKEN" not in env, name
            assert int(env["METRICS_PORT"]) not in published(service, "tcp"), name
            expected.add(f"{name}:{env['METRICS_PORT']}")
        if "AI_METRICS_PORT" in env and service["command"][1] == "gpu-node":
            expected.add(f"{name}:{env['AI_METRICS_PORT']}")
    assert targets == expected
    assert "prometheus" in services and published(services["prometheus"], "tcp") == {9090}


def test_grafana_provisions_prometheus_and_the_dashboards(
    services: dict[str, dict[str, Any]],
) -> None:
    provisioning = INFRA / "grafana" / "provisioning"
    sources = yaml.safe_load((provisioning / "datasources" / "datasources.yaml").read_text())
    prometheus = next(s for s in sources["datasources"] if s["type"] == "prometheus")
    assert prometheus["uid"] == "prometheus"  # what the dashboards name
    assert urlsplit(prometheus["url"]).hostname in services
    providers = yaml.safe_load((provisioning / "dashboards" / "dashboards.yaml").read_text())
    mounts = {v["source"]: v["target"] for v in services["grafana"]["volumes"] if "source" in v}
    assert providers["providers"][0]["options"]["path"] == mounts[str(DASHBOARD_DIR)]
    assert mounts[str(provisioning)] == "/etc/grafana/provisioning"


def test_the_collector_sends_otlp_traces_to_jaeger(services: dict[str, dict[str, Any]]) -> None:
    config = yaml.safe_load((INFRA / "otel-collector.yaml").read_text())
    pipeline = config["service"]["pipelines"]["traces"]
    assert pipeline["receivers"] == ["otlp"]
    protocols = config["receivers"]["otlp"]["protocols"]
    listening = {int(protocols[p]["endpoint"].rsplit(":", 1)[1]) for p in ("grpc", "http")}
    assert listening == {4317, 4318} == published(services["otel-collector"], "tcp")
    (exporter,) = pipeline["exporters"]
    assert exporter.startswith("otlp")
    host, port = config["exporters"][exporter]["endpoint"].rsplit(":", 1)
    assert host in services and services[host]["image"].startswith("jaegertracing/jaeger:2")
    assert port == "4317"  # Jaeger 2's OTLP gRPC receiver


def test_coturn_relays_on_its_published_range_to_the_stack_only(
    stack: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    conf = dict(
        line.partition("=")[::2]
        for line in (INFRA / "coturn" / "turnserver.conf").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    relay = set(range(int(conf["min-port"]), int(conf["max-port"]) + 1))
    coturn = services["coturn"]
    assert published(coturn, "udp") == relay | {int(conf["listening-port"])}
    low, _, high = conf["allowed-peer-ip"].partition("-")
    (subnet,) = (c["subnet"] for c in stack["networks"]["default"]["ipam"]["config"])
    network = ipaddress.ip_network(subnet)
    assert (ipaddress.ip_address(low), ipaddress.ip_address(high)) == (
        network.network_address,
        network.broadcast_address,
    )
    turn_urls = settings_of(services["gateway"]).turn_urls
    assert {re.split(r"[:?]", url)[2] for url in turn_urls} == {conf["listening-port"]}

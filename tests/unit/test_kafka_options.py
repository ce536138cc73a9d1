"""Connection options for an external Kafka cluster come from settings."""

from __future__ import annotations

import ssl

import pytest

from meeting_shared.bus.kafka import client_options, topics
from meeting_shared.container import consumer_group
from meeting_shared.settings import Settings

pytestmark = pytest.mark.unit


def test_plaintext_brokers() -> None:
    settings = Settings(kafka_bootstrap_servers=" k1:9092, k2:9092 ,")
    assert client_options(settings) == {
        "bootstrap_servers": ["k1:9092", "k2:9092"],
        "security_protocol": "PLAINTEXT",
    }
    assert topics(settings) == ("meeting.events", "meeting.events.dlq")


def test_sasl_over_tls() -> None:
    settings = Settings(
        kafka_bootstrap_servers="b-1.msk:9096",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="meeting",
        kafka_sasl_password="secret",
    )
    options = client_options(settings)
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("meeting", "secret")


def test_groups_by_role_and_node() -> None:
    settings = Settings(
        kafka_bootstrap_servers="k:9092",
        node_id="sfu-7",
        media_nodes=[{"id": "sfu-7", "signaling_url": "wss://sfu-7.example/ws/signaling"}],
    )
    assert consumer_group(settings, "gateway") == "meeting.gateway"
    assert consumer_group(settings, "sfu") == "meeting.node-sfu-7"
    pinned = settings.model_copy(update={"kafka_consumer_group": "custom"})
    assert consumer_group(pinned, "gateway") == "custom"

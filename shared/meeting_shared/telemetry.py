"""Traces with OpenTelemetry: one trace from an HTTP request through the events it causes to the
consumers that handle them, on whichever process or node they run.

- HTTP: FastAPI's instrumentation makes a server span per request and continues the caller's
  trace when it sends a W3C ``traceparent`` header (``instrument_app``).
- Events: the envelope carries the ``traceparent`` of the span it was recorded in (the outbox
  and Kafka keep it with the event), and each consumer handles it in a span of that trace
  (``consuming``). So a request's trace id reaches the media node that acts on its event, and
  the AI node that transcribes what that node sends.
- Export: OTLP over HTTP to ``OTEL_EXPORTER_OTLP_ENDPOINT`` (a collector, then Jaeger or any
  backend) when set; without it spans are still made (log lines carry their trace ids) but go
  nowhere.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from fastapi import FastAPI

logger = logging.getLogger(__name__)

_propagator = TraceContextTextMapPropagator()
tracer = trace.get_tracer("meeting-system")
_configured = False


def configure_tracing(service: str, otlp_endpoint: str = "") -> None:
    """The process's tracer provider, once (the first caller names the service)."""
    global _configured
    if _configured:
        return
    _configured = True
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: f"meeting-{service}"}))
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = otlp_endpoint.rstrip("/") + "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)


def instrument_app(app: FastAPI) -> None:
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    # Health checks and scrapes every few seconds would bury the traces people look for.
    FastAPIInstrumentor.instrument_app(app, excluded_urls="health,metrics")


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the current span, if one is recording."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier.get("traceparent")


@contextmanager
def consuming(
    event_type: str, traceparent: str | None, consumer: str, event_id: str
) -> Iterator[Span]:
    """A consumer's span for handling one event, in the trace the event was recorded in."""
    parent = _propagator.extract({"traceparent": traceparent} if traceparent else {})
    with tracer.start_as_current_span(
        f"{event_type} process",
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes={
            "messaging.operation.type": "process",
            "messaging.destination.name": event_type,
            "messaging.consumer.group.name": consumer,
            "messaging.message.id": event_id,
        },
    ) as span:
        yield span


def current_trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None

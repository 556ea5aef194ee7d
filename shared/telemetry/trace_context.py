"""The request's own span, as the parent of what it records: the caller's W3C trace context (`traceparent`,
`tracestate` headers) continued, unless a host already did so."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

from shared.telemetry.switch import enabled


@contextlib.contextmanager
def request_span(method: str, route: str, headers: Mapping[str, str]) -> Iterator[None]:
    """In Azure the Functions host's request span is current (the worker attaches its context) and stands
    here; under devhost nothing is, so a `POST /mcp` SERVER span takes its place, and one request is one
    trace: token validation, key fetches and the MCP span beneath it."""
    if not enabled():
        yield
        return
    from opentelemetry import trace
    from opentelemetry.propagate import extract

    if trace.get_current_span().get_span_context().is_valid:
        yield
        return
    carrier = {name: value for name in ("traceparent", "tracestate") if (value := headers.get(name)) is not None}
    tracer = trace.get_tracer("azure-functions-mcp")
    attributes = {"http.request.method": method, "http.route": route}
    with tracer.start_as_current_span(
        f"{method} {route}", context=extract(carrier), kind=trace.SpanKind.SERVER, attributes=attributes
    ):
        yield

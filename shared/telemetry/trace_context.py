"""The caller's W3C trace context (`traceparent`, `tracestate` headers) as the parent of what a request records."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

from shared.telemetry.switch import enabled


@contextlib.contextmanager
def remote_parent(headers: Mapping[str, str]) -> Iterator[None]:
    """Unless a host already made one current: in Azure the Functions worker attaches the host's context,
    which already continues the caller's; under devhost nothing does."""
    if not enabled() or headers.get("traceparent") is None:
        yield
        return
    from opentelemetry import context, trace
    from opentelemetry.propagate import extract

    if trace.get_current_span().get_span_context().is_valid:
        yield
        return
    carrier = {name: value for name in ("traceparent", "tracestate") if (value := headers.get(name)) is not None}
    token = context.attach(extract(carrier))
    try:
        yield
    finally:
        context.detach(token)

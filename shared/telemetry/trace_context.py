"""The request's own span, as the parent of what it records: the caller's W3C trace context (`traceparent`,
`tracestate` headers) continued, unless a host already did so."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator, Mapping
from typing import Any

from shared.telemetry.switch import enabled

NAME = "azure-functions-mcp"


@functools.cache
def tracer() -> Any:
    """The app's tracer, got once: `get_tracer` builds a new one (and its instrumentation scope) per call."""
    from opentelemetry import trace

    return trace.get_tracer(NAME)


@functools.cache
def _api() -> tuple[Any, Any]:
    """opentelemetry's `context` and `trace`, imported at the first traced request (not with /health) and
    then kept: an import statement in the request path runs the import machinery on every request."""
    from opentelemetry import context, trace

    return context, trace


class RequestSpan:
    """What the handler may add to the request's span: its answer's status (no-op when there is no span)."""

    __slots__ = ("_span",)

    def __init__(self, span: Any = None) -> None:
        self._span = span

    def answered(self, status: int) -> None:
        if self._span is not None:
            self._span.set_attribute("http.response.status_code", status)
            if status >= 500:
                from opentelemetry.trace import StatusCode

                self._span.set_status(StatusCode.ERROR)


_NO_SPAN = RequestSpan()


@contextlib.contextmanager
def request_span(method: str, route: str, headers: Mapping[str, str]) -> Iterator[RequestSpan]:
    """In Azure the Functions host's request span is current (the worker attaches its context) and stands
    here; under devhost nothing is, so a `POST /mcp` SERVER span takes its place, and one request is one
    trace: token validation, key fetches and the MCP span beneath it.

    The span is made and made current by hand, not with `start_as_current_span`: this runs on every
    request, and the SDK's context-manager layers add about a fifth to the span's own cost."""
    if not enabled():
        yield _NO_SPAN
        return
    context, trace = _api()
    if trace.get_current_span().get_span_context().is_valid:
        yield _NO_SPAN
        return
    carrier = {name: value for name in ("traceparent", "tracestate") if (value := headers.get(name)) is not None}
    parent = None
    if carrier:
        from opentelemetry.propagate import extract

        parent = extract(carrier)
    span = tracer().start_span(
        f"{method} {route}",
        context=parent,
        kind=trace.SpanKind.SERVER,
        attributes={"http.request.method": method, "http.route": route},
    )
    token = context.attach(trace.set_span_in_context(span))
    try:
        yield RequestSpan(span)
    except BaseException as exc:
        # The class only: an exception's message may quote the request.
        from opentelemetry.trace import StatusCode

        span.set_attribute("error.type", type(exc).__qualname__)
        span.set_status(StatusCode.ERROR)
        raise
    finally:
        context.detach(token)
        span.end()

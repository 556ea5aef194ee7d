"""One SERVER span per MCP message and the `mcp.server.operation.duration` metric, per the MCP semantic
conventions (open-telemetry/semantic-conventions-genai, `mcp`).

It takes the place of the SDK's own `OpenTelemetryMiddleware` (which `build_server` removes) and keeps
its span name, attributes and `_meta` trace context, with three corrections: the conventions count the
client's mistakes (-32700, -32600, -32601, -32602, -32002, and this transport's -32020 to -32022) as no
server error, where the SDK marks them ERROR; an exception's message, which may quote the request, is
not recorded (the SDK records it); and a method or tool name that is not the protocol's or the server's
is `_OTHER` (the SDK puts the client's text in the span name). `network.transport` is set. Stateless: no
session id.
"""

from __future__ import annotations

import functools
import time
import typing
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared._otel import extract_trace_context
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, CallToolResult

# opentelemetry-api is loaded with the SDK's server (mcp.shared._otel): importing it here costs nothing more.
from opentelemetry import context, trace
from opentelemetry.trace import SpanKind, StatusCode
from pydantic import ValidationError

from shared.telemetry.switch import enabled
from shared.telemetry.trace_context import NAME, tracer

CLIENT_ERRORS = frozenset({-32700, -32600, -32601, -32602, -32002, -32020, -32021, -32022})
# What a span name and the metric's attributes may hold: a method or tool name that is not the protocol's
# or ours is the client's free text (unbounded cardinality, and whatever it pastes there) and reads
# `_OTHER`, as OpenTelemetry's HTTP conventions write an unknown method.
OTHER = "_OTHER"


@functools.cache
def _client_methods() -> frozenset[str]:
    """Every request method of the protocol, from the SDK's own types (`ClientRequest`)."""
    from mcp_types import ClientRequest

    methods: set[str] = set()
    for request in typing.get_args(ClientRequest):
        field = request.model_fields["method"]
        methods |= set(typing.get_args(field.annotation)) or {field.default}
    return frozenset(methods)


@functools.cache
def _instruments() -> tuple[Any, Any]:
    from opentelemetry import metrics

    duration = metrics.get_meter(NAME).create_histogram(
        "mcp.server.operation.duration", unit="s", description="MCP request duration, as the server sees it."
    )
    return tracer(), duration


class McpTelemetry:
    """Context-tier middleware of the SDK's server (`Server.middleware`)."""

    def __init__(self, tools: frozenset[str] = frozenset(), prompts: frozenset[str] = frozenset()) -> None:
        self.named = {"tools/call": ("gen_ai.tool.name", tools), "prompts/get": ("gen_ai.prompt.name", prompts)}

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if not enabled():
            return await call_next(ctx)
        tracer, duration = _instruments()
        method = ctx.method if ctx.method in _client_methods() else OTHER
        attributes: dict[str, Any] = {"mcp.method.name": method, "network.transport": "tcp"}
        if ctx.protocol_version:
            attributes["mcp.protocol.version"] = ctx.protocol_version
        target = None
        if method in self.named:
            key, known = self.named[method]
            name = ctx.params.get("name") if ctx.params else None
            target = name if isinstance(name, str) and name in known else OTHER
            attributes[key] = target
        if method == "tools/call":
            attributes["gen_ai.operation.name"] = "execute_tool"
        parent = extract_trace_context(ctx.meta)
        request = trace.get_current_span()
        current = request.get_span_context()
        token = None
        if parent is None and current.is_valid and not current.is_remote and not request.is_recording():
            # The request's span was sampled out here, and its child would be too (every sampler the SDK
            # and Azure Monitor ship drops the child of a local parent it dropped): no span, the metric
            # only. A remote parent (the Functions host's, in Azure) is the sampler's to judge.
            span: trace.Span = trace.INVALID_SPAN
        else:
            span = self._start(tracer, method, target, attributes, ctx, parent, current)
            # Made current by hand, not with `start_as_current_span`: this runs for every message, and the
            # SDK's context-manager layers add about a fifth to the span's own cost.
            token = context.attach(trace.set_span_in_context(span))
        start = time.perf_counter()
        error: str | None = None
        try:
            result = await call_next(ctx)
        except MCPError as exc:
            error = str(exc.error.code)
            span.set_attribute("rpc.response.status_code", error)
            if exc.error.code not in CLIENT_ERRORS:
                span.set_status(StatusCode.ERROR)  # no message: it may quote the request
            raise
        except ValidationError:
            error = str(INVALID_PARAMS)  # a client's mistake: pydantic's text carries its input, left out
            span.set_attribute("rpc.response.status_code", error)
            raise
        except BaseException as exc:
            # The class only: an exception's message may quote the request (a token as a tool argument).
            error = type(exc).__qualname__
            span.set_status(StatusCode.ERROR, error)
            raise
        else:
            if method == "tools/call" and _is_tool_error(result):
                error = "tool_error"
                span.set_status(StatusCode.ERROR)
            return result
        finally:
            elapsed = time.perf_counter() - start
            if error is not None:
                span.set_attribute("error.type", error)
                attributes["error.type"] = error
            if token is not None:
                context.detach(token)
            span.end()
            duration.record(elapsed, attributes)

    @staticmethod
    def _start(
        tracer: Any,
        method: str,
        target: str | None,
        attributes: dict[str, Any],
        ctx: ServerRequestContext[Any, Any],
        parent: context.Context | None,
        request: trace.SpanContext,
    ) -> trace.Span:
        span_attributes = dict(attributes)
        if ctx.request_id is not None:
            span_attributes["jsonrpc.request.id"] = str(ctx.request_id)
        links = None
        if parent is not None and request.is_valid:
            # `_meta` makes the span a child of the caller's message, in the caller's trace: a link keeps
            # the way to the HTTP request's span (and its token validation), which is in another.
            links = [trace.Link(request)]
        return tracer.start_span(
            f"{method} {target}" if target else method,
            context=parent,
            kind=SpanKind.SERVER,
            attributes=span_attributes,
            links=links,
        )


def _is_tool_error(result: object) -> bool:
    match result:
        case CallToolResult(is_error=True) | {"isError": True}:
            return True
    return False


def install(lowlevel_server: Any, tools: frozenset[str], prompts: frozenset[str] = frozenset()) -> None:
    """Ours in place of the SDK's OpenTelemetry middleware, at the same (outermost) position; `tools` and
    `prompts` are the names the server registered (any other name is recorded as `_OTHER`)."""
    from mcp.server._otel import OpenTelemetryMiddleware

    ours = McpTelemetry(tools, prompts)
    chain = lowlevel_server.middleware
    chain[:] = [ours if isinstance(m, OpenTelemetryMiddleware) else m for m in chain]

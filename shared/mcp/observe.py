"""One SERVER span per MCP message and the `mcp.server.operation.duration` metric, per the MCP semantic
conventions (open-telemetry/semantic-conventions-genai, `mcp`).

It takes the place of the SDK's own `OpenTelemetryMiddleware` (which `build_server` removes) and keeps
its span name, attributes and `_meta` trace context, with two corrections: the conventions count the
client's mistakes (-32700, -32600, -32601, -32602, -32002, and this transport's -32020 to -32022) as no
server error, where the SDK marks them ERROR; and an exception's message, which may quote the request, is
not recorded (the SDK records it). `network.transport` is set. Stateless: no session id.
"""

from __future__ import annotations

import functools
import time
from typing import Any

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared._otel import extract_trace_context
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, CallToolResult
from pydantic import ValidationError

from shared.telemetry.switch import enabled
from shared.telemetry.trace_context import NAME, tracer

CLIENT_ERRORS = frozenset({-32700, -32600, -32601, -32602, -32002, -32020, -32021, -32022})


@functools.cache
def _instruments() -> tuple[Any, Any]:
    from opentelemetry import metrics

    duration = metrics.get_meter(NAME).create_histogram(
        "mcp.server.operation.duration", unit="s", description="MCP request duration, as the server sees it."
    )
    return tracer(), duration


class McpTelemetry:
    """Context-tier middleware of the SDK's server (`Server.middleware`)."""

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if not enabled():
            return await call_next(ctx)
        from opentelemetry import context, trace
        from opentelemetry.trace import SpanKind, StatusCode

        tracer, duration = _instruments()
        name = ctx.params.get("name") if ctx.params else None
        target = name if isinstance(name, str) else None
        attributes: dict[str, Any] = {"mcp.method.name": ctx.method, "network.transport": "tcp"}
        if ctx.protocol_version:
            attributes["mcp.protocol.version"] = ctx.protocol_version
        if ctx.method == "tools/call":
            attributes["gen_ai.operation.name"] = "execute_tool"
            if target is not None:
                attributes["gen_ai.tool.name"] = target
        elif ctx.method == "prompts/get" and target is not None:
            attributes["gen_ai.prompt.name"] = target
        span_attributes = dict(attributes)
        if ctx.request_id is not None:
            span_attributes["jsonrpc.request.id"] = str(ctx.request_id)
        # Made current by hand, not with `start_as_current_span`: this runs for every message, and the
        # SDK's context-manager layers cost about as much as the span (bench/telemetry.py).
        span = tracer.start_span(
            f"{ctx.method}{f' {target}' if target else ''}",
            context=extract_trace_context(ctx.meta),
            kind=SpanKind.SERVER,
            attributes=span_attributes,
        )
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
            if ctx.method == "tools/call" and _is_tool_error(result):
                error = "tool_error"
                span.set_status(StatusCode.ERROR)
            return result
        finally:
            elapsed = time.perf_counter() - start
            if error is not None:
                span.set_attribute("error.type", error)
                attributes["error.type"] = error
            context.detach(token)
            span.end()
            duration.record(elapsed, attributes)


def _is_tool_error(result: object) -> bool:
    match result:
        case CallToolResult(is_error=True) | {"isError": True}:
            return True
    return False


def install(lowlevel_server: Any) -> None:
    """Ours in place of the SDK's OpenTelemetry middleware, at the same (outermost) position."""
    from mcp.server._otel import OpenTelemetryMiddleware

    chain = lowlevel_server.middleware
    chain[:] = [McpTelemetry() if isinstance(m, OpenTelemetryMiddleware) else m for m in chain]

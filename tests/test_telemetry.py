"""Telemetry through OpenTelemetry's own in-memory span exporter, metric reader and log exporter."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.instrumentation.logging.handler import LoggingHandler
from opentelemetry.propagate import extract
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from support import CLIENT, MCP_ACCEPT, OTHER_TENANT, TENANT, call, configure, env_for, mcp_request

from devhost.authority import LocalAuthority, SigningKey
from shared.telemetry import switch

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


@dataclass
class Collected:
    spans: InMemorySpanExporter
    reader: InMemoryMetricReader
    logs: InMemoryLogRecordExporter

    def finished(self) -> list[ReadableSpan]:
        return list(self.spans.get_finished_spans())

    def points(self, name: str) -> list[tuple[dict[str, Any], Any]]:
        data = self.reader.get_metrics_data()
        found = []
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for metric in scope.metrics:
                    if metric.name == name:
                        found += [(dict(p.attributes or {}), p) for p in metric.data.data_points]
        return found

    def counted(self, name: str, **attributes: str) -> float:
        return sum(p.value for a, p in self.points(name) if all(a.get(k) == v for k, v in attributes.items()))

    def everything(self) -> str:
        """All that was exported, as text: span names, attributes and events, metric attributes, log records."""
        spans = [
            (s.name, dict(s.attributes or {}), [dict(e.attributes or {}) for e in s.events]) for s in self.finished()
        ]
        data = self.reader.get_metrics_data()
        metric_text = data.to_json() if data else ""
        logs = [(str(r.log_record.body), dict(r.log_record.attributes or {})) for r in self.logs.get_finished_logs()]
        return json.dumps([spans, logs], default=str) + metric_text


@pytest.fixture(scope="module")
def otel() -> Iterator[Collected]:
    collected = Collected(InMemorySpanExporter(), InMemoryMetricReader(), InMemoryLogRecordExporter())
    tracing = TracerProvider()
    tracing.add_span_processor(SimpleSpanProcessor(collected.spans))
    trace.set_tracer_provider(tracing)
    metrics.set_meter_provider(MeterProvider(metric_readers=[collected.reader]))
    logging_provider = LoggerProvider()
    logging_provider.add_log_record_processor(SimpleLogRecordProcessor(collected.logs))
    handler = LoggingHandler(level=logging.INFO, logger_provider=logging_provider)
    app_logger = logging.getLogger("shared")
    app_logger.addHandler(handler)
    level = app_logger.level
    app_logger.setLevel(logging.INFO)
    switch.set_enabled(True)
    yield collected
    switch.set_enabled(None)
    app_logger.removeHandler(handler)
    app_logger.setLevel(level)


@pytest.fixture
def seen(otel: Collected) -> Collected:
    otel.spans.clear()
    otel.logs.clear()
    return otel


async def post(message: Any, token: str | None, headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = await call(
        "mcp",
        "POST",
        "/mcp",
        token=token,
        headers={"Accept": MCP_ACCEPT, "MCP-Protocol-Version": "2025-11-25", **(headers or {})},
        body=message,
    )
    return {"status": response.status_code, "body": json.loads(response.get_body() or b"{}")}


def server_spans(collected: Collected) -> list[ReadableSpan]:
    """The MCP spans: SERVER spans but the request's own (`POST /mcp`, which a host's span replaces in Azure)."""
    return [s for s in collected.finished() if s.kind == SpanKind.SERVER and not s.name.startswith("POST ")]


async def test_a_tool_call_is_one_server_span_per_the_mcp_conventions(
    authority: LocalAuthority, seen: Collected
) -> None:
    configure(env_for(authority))
    answer = await post(
        mcp_request("tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}}, 7), authority.mint(TENANT, CLIENT)
    )
    assert answer["status"] == 200
    (span,) = server_spans(seen)
    assert span.name == "tools/call add"
    attributes = dict(span.attributes or {})
    assert attributes == {
        "mcp.method.name": "tools/call",
        "mcp.protocol.version": "2025-11-25",
        "network.transport": "tcp",
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "add",
        "jsonrpc.request.id": "7",
    }
    assert span.status.status_code == StatusCode.UNSET
    assert any(s.name == "validate token" for s in seen.finished())
    durations = [a for a, _ in seen.points("mcp.server.operation.duration") if a.get("gen_ai.tool.name") == "add"]
    assert durations and "error.type" not in durations[0] and durations[0]["mcp.method.name"] == "tools/call"


async def test_tools_list_a_tool_error_and_a_protocol_error(authority: LocalAuthority, seen: Collected) -> None:
    configure(env_for(authority))
    token = authority.mint(TENANT, CLIENT)
    await post(mcp_request("tools/list"), token)
    await post(mcp_request("tools/call", {"name": "divide", "arguments": {"a": 1, "b": 0}}), token)
    await post(mcp_request("resources/read", {"uri": "x://nothing"}), token)
    by_name = {s.name: s for s in server_spans(seen)}
    assert set(by_name) == {"tools/list", "tools/call divide", "resources/read"}
    assert "error.type" not in (by_name["tools/list"].attributes or {})
    tool_error = by_name["tools/call divide"]
    assert tool_error.attributes["error.type"] == "tool_error" and tool_error.status.status_code == StatusCode.ERROR
    # -32602 is the client's mistake: error.type says so, the span is not a server error (the SDK marks it one).
    protocol = by_name["resources/read"]
    assert protocol.attributes["error.type"] == "-32602" and protocol.status.status_code == StatusCode.UNSET
    errors = {a.get("error.type") for a, _ in seen.points("mcp.server.operation.duration")}
    assert {"tool_error", "-32602"} <= errors


async def test_the_callers_trace_context_is_honoured(authority: LocalAuthority, seen: Collected) -> None:
    configure(env_for(authority))
    token = authority.mint(TENANT, CLIENT)
    traceparent = f"00-{TRACE_ID}-{PARENT_ID}-01"
    await post(
        mcp_request("tools/call", {"name": "echo", "arguments": {"message": "x"}}), token, {"traceparent": traceparent}
    )
    spans = {s.name: s for s in seen.finished()}
    request = spans["POST /mcp"]
    assert request.parent is not None and format(request.parent.span_id, "016x") == PARENT_ID
    assert request.attributes["http.response.status_code"] == 200 and request.kind == SpanKind.SERVER
    # One trace: the request's span, with token validation and the MCP span beneath it.
    for name in ("validate token", "tools/call echo"):
        assert format(spans[name].context.trace_id, "032x") == TRACE_ID
        assert spans[name].parent is not None and spans[name].parent.span_id == request.context.span_id
    seen.spans.clear()
    other = "0af7651916cd43dd8448eb211c80319c"
    meta = {"traceparent": f"00-{other}-b7ad6b7169203331-01"}
    await post(mcp_request("tools/call", {"name": "echo", "arguments": {"message": "x"}, "_meta": meta}), token)
    (span,) = server_spans(seen)
    assert format(span.context.trace_id, "032x") == other
    # Its own request's span is in the request's trace: a link leads there.
    (request,) = [s for s in seen.finished() if s.name == "POST /mcp"]
    assert [link.context.span_id for link in span.links] == [request.context.span_id]
    # A refused request has a trace of its own too: the request's span, with its status.
    seen.spans.clear()
    await post(mcp_request("tools/list"), None)
    (refused,) = seen.finished()
    assert refused.name == "POST /mcp" and refused.attributes["http.response.status_code"] == 401


async def test_a_sampled_out_request_has_no_spans_but_is_still_timed(
    authority: LocalAuthority, seen: Collected
) -> None:
    """The caller did not sample its trace (flags 00), so the SDK's default sampler drops the request's span
    and everything beneath it; the MCP metric still counts the call. A `_meta` trace context that was
    sampled decides for the MCP span itself."""
    configure(env_for(authority))
    token = authority.mint(TENANT, CLIENT)
    unsampled = {"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-00"}

    def calls() -> int:
        points = seen.points("mcp.server.operation.duration")
        return sum(p.count for a, p in points if a.get("gen_ai.tool.name") == "echo")

    before = calls()
    await post(mcp_request("tools/call", {"name": "echo", "arguments": {"message": "x"}}), token, unsampled)
    assert seen.finished() == [] and calls() == before + 1
    meta = {"traceparent": f"00-{TRACE_ID}-b7ad6b7169203331-01"}
    message = mcp_request("tools/call", {"name": "echo", "arguments": {"message": "x"}, "_meta": meta})
    await post(message, token, unsampled)
    assert [s.name for s in seen.finished()] == ["tools/call echo"] and calls() == before + 2


async def test_under_the_hosts_trace_context_the_mcp_span_is_the_hosts_child(
    authority: LocalAuthority, seen: Collected
) -> None:
    """In Azure the worker makes the host's request span current (remote, so never recording here): the
    request's own span is left to the host, and the MCP span is made beneath the host's."""
    configure(env_for(authority))
    token = authority.mint(TENANT, CLIENT)
    host = otel_context.attach(extract({"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"}))
    try:
        await post(mcp_request("tools/call", {"name": "echo", "arguments": {"message": "x"}}), token)
    finally:
        otel_context.detach(host)
    (span,) = server_spans(seen)
    assert not any(s.name == "POST /mcp" for s in seen.finished())
    assert format(span.context.trace_id, "032x") == TRACE_ID and format(span.parent.span_id, "016x") == PARENT_ID


def refusals(authority: LocalAuthority) -> dict[str, dict[str, Any]]:
    """A request per refusal reason: its token (or None) and the settings it is made under."""
    signed = authority.mint(TENANT, CLIENT)
    head, payload, signature = signed.split(".")
    tampered = f"{head}.{payload}.{'A' if signature[0] != 'A' else 'B'}{signature[1:]}"
    app = {"app": True, "roles": ("Other.Role",)}
    return {
        "missing": {"token": None},
        "malformed": {"token": "not-a-jwt"},
        "expired": {"token": authority.mint(TENANT, CLIENT, minutes=-30)},
        "not_yet_valid": {"token": authority.mint(TENANT, CLIENT, claims={"nbf": int(time.time()) + 3600})},
        "audience": {"token": authority.mint(TENANT, "11111111-2222-3333-4444-555555555555")},
        "issuer": {"token": authority.mint(TENANT, CLIENT, claims={"iss": "https://issuer.example/x/v2.0"})},
        "tenant": {"token": authority.mint(OTHER_TENANT, CLIENT)},
        "signature": {"token": tampered},
        "unknown_key": {"token": authority.mint(TENANT, CLIENT, key=SigningKey.generate())},
        "scope": {"token": authority.mint(TENANT, CLIENT, scopes=("other",))},
        "role": {"token": authority.mint(TENANT, CLIENT, **app)},
        "keys_unavailable": {"token": signed, "down": True},
    }


async def test_one_metric_point_and_one_log_record_per_refusal_reason(
    authority: LocalAuthority, seen: Collected
) -> None:
    from shared.telemetry.auth import REASONS

    cases = refusals(authority)
    assert set(cases) == set(REASONS)
    for reason, case in cases.items():
        configure(env_for(authority, JWKS_MIN_REFRESH_SECONDS="300"))
        authority.mode = "down" if case.get("down") else "up"
        before = seen.counted("app.auth.token.validations", **{"error.type": reason})
        answer = await post(mcp_request("tools/list"), case["token"])
        assert answer["status"] == {"keys_unavailable": 503, "scope": 403, "role": 403}.get(reason, 401), reason
        assert seen.counted("app.auth.token.validations", **{"error.type": reason}) == before + 1, reason
    authority.mode = "up"
    records = [
        r.log_record for r in seen.logs.get_finished_logs() if (r.log_record.attributes or {}).get("auth.reason")
    ]
    assert [r.attributes["auth.reason"] for r in records] == list(cases)
    levels = {r.attributes["auth.reason"]: r.severity_text for r in records}
    assert levels["expired"] == "INFO" and levels["signature"] == "WARN" and levels["keys_unavailable"] == "ERROR"
    expired = next(r for r in records if r.attributes["auth.reason"] == "expired")
    assert expired.attributes["auth.token.tid"] == TENANT and expired.attributes["auth.token.aud"] == CLIENT
    assert expired.attributes["auth.token.alg"] == "RS256" and expired.attributes["http.response.status_code"] == 401
    assert expired.trace_id  # correlated with the request's trace
    # The validation span names the reason; no exception event (a stack trace, chained messages) per refusal.
    validations = [s for s in seen.finished() if s.name == "validate token"]
    assert all(not s.events for s in validations)
    by_reason = {s.attributes["error.type"]: s for s in validations if "error.type" in (s.attributes or {})}
    assert set(by_reason) == set(REASONS) - {"missing", "scope", "role"}  # those three never reach validation
    assert by_reason["expired"].status.status_code == StatusCode.UNSET
    assert by_reason["keys_unavailable"].status.status_code == StatusCode.ERROR
    for case in cases.values():
        if case["token"]:
            assert case["token"] not in seen.everything()
            assert case["token"].split(".")[-1] not in seen.everything()
    # No tenant id among the metrics' attributes unless an operator opts in.
    assert all("azure.tenant.id" not in a for a, _ in seen.points("app.auth.token.validations"))


async def test_key_fetches_by_trigger_across_a_refresh_and_an_outage(
    authority: LocalAuthority, seen: Collected
) -> None:
    def fetches(trigger: str, outcome: str) -> int:
        return sum(
            p.count
            for a, p in seen.points("app.auth.keys.fetch.duration")
            if a == {"app.auth.keys.trigger": trigger, "app.auth.keys.outcome": outcome}
        )

    before = {k: fetches(*k) for k in [("first", "success"), ("unknown_kid", "success"), ("scheduled", "failure")]}
    rt = configure(env_for(authority, JWKS_MIN_REFRESH_SECONDS="1"))
    token = authority.mint(TENANT, CLIENT)
    await rt.validator.validate(token)
    assert fetches("first", "success") == before[("first", "success")] + 1
    await asyncio.sleep(1.1)
    rotated = authority.rotate(keep_old=True)
    await rt.validator.validate(authority.mint(TENANT, CLIENT, key=rotated))
    assert fetches("unknown_kid", "success") == before[("unknown_kid", "success")] + 1
    # Keys due every second: a cached token's next use starts a background refresh, into an outage.
    rt = configure(env_for(authority, JWKS_REFRESH_SECONDS="1", JWKS_MIN_REFRESH_SECONDS="1"))
    await rt.validator.validate(token)
    authority.mode = "down"
    await asyncio.sleep(1.1)
    await rt.validator.validate(token)
    for _ in range(50):
        if fetches("scheduled", "failure") > before[("scheduled", "failure")]:
            break
        await asyncio.sleep(0.05)
    authority.mode = "up"
    assert fetches("scheduled", "failure") == before[("scheduled", "failure")] + 1
    ages = [p.value for _, p in seen.points("app.auth.keys.age")]
    assert ages and all(age >= 0 for age in ages)
    assert any(s.name == "fetch signing keys" for s in seen.finished())


async def test_a_token_canary_reaches_no_span_metric_or_log(authority: LocalAuthority, seen: Collected) -> None:
    configure(env_for(authority))
    canary = authority.mint(TENANT, CLIENT)
    message = mcp_request("tools/call", {"name": "echo", "arguments": {"message": canary}})
    response = await call(
        "mcp",
        "POST",
        "/mcp",
        token=canary,
        headers={"Accept": MCP_ACCEPT},
        params={"access_token": canary},
        body=message,
    )
    assert response.status_code == 200
    await post(message, f"{canary}x")  # a refused one too
    # As a tool's name, and as a method: a client's free text is `_OTHER` in span names and metrics.
    pasted = await post(mcp_request("tools/call", {"name": canary, "arguments": {}}), canary)
    assert pasted["status"] == 200 and pasted["body"]["result"]["isError"] is True
    await post(mcp_request(canary, {}), canary)
    names = {s.name for s in server_spans(seen)}
    assert {"tools/call echo", "tools/call _OTHER"} <= names and names <= {
        "tools/call echo",
        "tools/call _OTHER",
        "_OTHER",
    }
    assert {a.get("gen_ai.tool.name") for a, _ in seen.points("mcp.server.operation.duration")} >= {"_OTHER"}
    exported = seen.everything()
    assert server_spans(seen) and seen.logs.get_finished_logs()
    for secret in (canary, canary.split(".")[2], canary.split(".")[1]):
        assert secret not in exported


def test_devhost_exports_to_the_console_and_its_output_holds_no_token(tmp_path: Any) -> None:
    """devhost with OTEL_*_EXPORTER=console: spans, metrics and log records reach its output; a token sent
    in the header, the query string, the body and a tool argument does not."""
    import httpx2
    from support import start_devhost

    env = {"DEVHOST_STATE_DIR": str(tmp_path), "AZURE_TENANT_ID": "", "OTEL_METRIC_EXPORT_INTERVAL": "200"}
    env |= {f"OTEL_{signal}_EXPORTER": "console" for signal in ("TRACES", "METRICS", "LOGS")}
    with start_devhost(env, "--auth", "local", "--log-level", "info") as host:
        canary = host.mint()
        message = mcp_request("tools/call", {"name": "echo", "arguments": {"message": canary}})
        headers = {"Authorization": f"Bearer {canary}", "Accept": MCP_ACCEPT}
        answer = httpx2.post(f"{host.mcp_url}?access_token={canary}", json=message, headers=headers, timeout=30)
        assert answer.status_code == 200 and canary in answer.text  # echo answers it: the caller's own
        refused = httpx2.post(host.mcp_url, json=message, headers={**headers, "Authorization": f"Bearer {canary}x"})
        assert refused.status_code == 401
        time.sleep(0.5)
    output = host.output()
    assert "Telemetry: traces to console (every trace), metrics to console, logs to console" in output
    assert '"name": "tools/call echo"' in output and "app.auth.token.validations" in output
    assert "Refused a request's token: " in output
    for secret in (canary, canary.split(".")[1], canary.split(".")[2]):
        assert secret not in output


def test_devhost_exports_over_otlp_with_the_exporters_built_after_start_up(tmp_path: Any) -> None:
    """OTLP/HTTP to a loopback collector: spans, metric points and log records arrive (decoded with
    OpenTelemetry's own protobuf classes), hold no token, and the exporters' libraries were not loaded at
    start-up (they load with the first export, off the first request's path)."""
    import subprocess
    import sys
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    import httpx2
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
    from support import ROOT, start_devhost

    received: dict[str, list[bytes]] = {}

    class Collector(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.setdefault(self.path, []).append(self.rfile.read(int(self.headers["Content-Length"])))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    collector = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{collector.server_address[1]}"
    env = {"DEVHOST_STATE_DIR": str(tmp_path), "AZURE_TENANT_ID": "", "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}
    env |= {"OTEL_BSP_SCHEDULE_DELAY": "200", "OTEL_BLRP_SCHEDULE_DELAY": "200", "OTEL_METRIC_EXPORT_INTERVAL": "200"}
    try:
        with start_devhost(env, "--auth", "local") as host:
            canary = host.mint()
            message = mcp_request("tools/call", {"name": "echo", "arguments": {"message": canary}})
            headers = {"Authorization": f"Bearer {canary}", "Accept": MCP_ACCEPT}
            assert httpx2.post(host.mcp_url, json=message, headers=headers, timeout=30).status_code == 200
            refused = httpx2.post(host.mcp_url, json=message, headers={**headers, "Authorization": f"Bearer {canary}x"})
            assert refused.status_code == 401
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and not all(
                received.get(f"/v1/{s}") for s in ("traces", "metrics", "logs")
            ):
                time.sleep(0.1)
    finally:
        collector.shutdown()
        collector.server_close()
    spans = [s for body in received.get("/v1/traces", []) for s in _spans(ExportTraceServiceRequest, body)]
    assert {"POST /mcp", "tools/call echo"} <= {s.name for s in spans}
    metric_names = {
        m.name
        for body in received.get("/v1/metrics", [])
        for r in ExportMetricsServiceRequest.FromString(body).resource_metrics
        for sm in r.scope_metrics
        for m in sm.metrics
    }
    assert {"mcp.server.operation.duration", "app.auth.token.validations"} <= metric_names
    logs = [
        str(record.body.string_value)
        for body in received.get("/v1/logs", [])
        for r in ExportLogsServiceRequest.FromString(body).resource_logs
        for sl in r.scope_logs
        for record in sl.log_records
    ]
    assert any(line.startswith("Refused a request's token: ") for line in logs), logs
    everything = b"".join(b for bodies in received.values() for b in bodies)
    for secret in (canary, canary.split(".")[1], canary.split(".")[2]):
        assert secret.encode() not in everything

    # What configure() loads: the SDK, not the exporters (`requests`, the protobuf encoders) nor the log
    # handler's package (wrapt and the instrumentor machinery).
    probe = (
        "import os, sys; from devhost import telemetry; telemetry.configure(os.environ); "
        "print(sorted(m for m in ('requests', 'opentelemetry.exporter.otlp.proto.http', "
        "'opentelemetry.proto.trace.v1.trace_pb2', 'opentelemetry.instrumentation.logging', 'wrapt', "
        "'opentelemetry.sdk.trace') if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert loaded.strip() == "['opentelemetry.sdk.trace']"


def _spans(request_type: Any, body: bytes) -> list[Any]:
    return [s for r in request_type.FromString(body).resource_spans for ss in r.scope_spans for s in ss.spans]


def test_a_metric_temporality_preference_builds_the_otlp_metric_exporter_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The reader takes the exporter's temporality when it is made: where the environment sets one, the
    real exporter is built then, and its DELTA preference holds."""
    from opentelemetry.sdk.metrics import Counter
    from opentelemetry.sdk.metrics.export import AggregationTemporality

    from devhost.telemetry import Deferred, _metric_reader

    deferred = _metric_reader("otlp", {})
    assert isinstance(deferred._exporter, Deferred) and deferred._exporter._real is None
    import os

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "delta")
    eager = _metric_reader("otlp", os.environ)
    assert not isinstance(eager._exporter, Deferred)
    assert eager._exporter._preferred_temporality[Counter] == AggregationTemporality.DELTA
    for reader in (deferred, eager):
        reader.shutdown()


def test_devhost_batches_128_spans_unless_the_environment_says(monkeypatch: pytest.MonkeyPatch) -> None:
    """Smaller OTLP batches than the SDK's 512 (resident memory, bench/telemetry.py); the standard
    variable still decides when it is set."""
    import os

    from devhost.telemetry import _span_processor

    processors = [_span_processor("otlp", {})]
    monkeypatch.setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "32")
    processors.append(_span_processor("otlp", os.environ))
    assert [p._batch_processor._max_export_batch_size for p in processors] == [128, 32]
    for processor in processors:
        processor.shutdown()

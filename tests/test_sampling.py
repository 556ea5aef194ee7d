"""devhost's trace sampling (devhost/sampling.py): Azure Monitor's sampler names mean under devhost what they
mean in Azure, and the deployed one (at most 5 traces a second) holds end to end."""

from __future__ import annotations

import time
from typing import Any

import httpx2
import pytest
from opentelemetry import context, trace
from opentelemetry.propagate import extract
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from support import MCP_ACCEPT, mcp_request, start_devhost

from devhost import sampling


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def decisions(sampler: sampling.TracesPerSecond, count: int) -> list[bool]:
    return [sampler.should_sample(None, 1, "span").decision.is_sampled() for _ in range(count)]


def test_a_rate_keeps_a_burst_then_refills_at_that_rate() -> None:
    clock = Clock()
    sampler = sampling.TracesPerSecond(5, clock=clock)
    assert decisions(sampler, 7) == [True] * 5 + [False] * 2
    clock.now += 0.2  # one trace's worth
    assert decisions(sampler, 2) == [True, False]
    clock.now += 60  # idle: the bucket holds no more than a second's worth
    assert decisions(sampler, 6).count(True) == 5


def test_a_rate_below_one_a_second_and_a_rate_of_zero() -> None:
    clock = Clock()
    slow = sampling.TracesPerSecond(0.5, clock=clock)
    assert decisions(slow, 2) == [True, False]
    clock.now += 1.0
    assert decisions(slow, 1) == [False]
    clock.now += 1.0
    assert decisions(slow, 1) == [True]
    assert decisions(sampling.TracesPerSecond(0, clock=clock), 3) == [False] * 3  # none, as the distro


def tracer_with(environ: dict[str, str]) -> tuple[Any, InMemorySpanExporter]:
    sampler, _ = sampling.from_environ(environ)
    assert sampler is not None
    provider = TracerProvider(sampler=sampler)
    exported = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exported))
    return provider.get_tracer("test"), exported


def test_children_follow_their_root_and_kept_spans_keep_their_attributes() -> None:
    tracer, exported = tracer_with({"OTEL_TRACES_SAMPLER": "microsoft.rate_limited", "OTEL_TRACES_SAMPLER_ARG": "1"})
    for request in range(3):  # the first trace is kept; the bucket is then empty for a second
        root = tracer.start_span("POST /mcp", attributes={"request": request})
        token = context.attach(trace.set_span_in_context(root))
        tracer.start_span("tools/call add", attributes={"gen_ai.tool.name": "add"}).end()
        context.detach(token)
        root.end()
    spans = {span.name: span for span in exported.get_finished_spans()}
    assert set(spans) == {"POST /mcp", "tools/call add"} and len(exported.get_finished_spans()) == 2
    assert spans["POST /mcp"].attributes == {"request": 0}
    assert spans["tools/call add"].attributes == {"gen_ai.tool.name": "add"}
    assert spans["tools/call add"].parent.span_id == spans["POST /mcp"].context.span_id


def test_a_remote_parents_flag_does_not_decide() -> None:
    """As the distro: a caller's `traceparent` parents the span, but the rate decides whether it is kept."""
    tracer, exported = tracer_with({"OTEL_TRACES_SAMPLER": "microsoft.rate_limited", "OTEL_TRACES_SAMPLER_ARG": "1"})
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    unsampled = extract({"traceparent": f"00-{trace_id}-b7ad6b7169203331-00"})
    sampled = extract({"traceparent": f"00-{trace_id}-b7ad6b7169203331-01"})
    tracer.start_span("kept, though the caller did not sample", context=unsampled).end()
    tracer.start_span("dropped, though the caller sampled", context=sampled).end()
    (kept,) = exported.get_finished_spans()
    assert kept.name == "kept, though the caller did not sample"
    assert format(kept.context.trace_id, "032x") == trace_id


@pytest.mark.parametrize(("argument", "kept"), [("1.0", 20), ("0", 0), ("", 20)])
def test_a_fixed_percentage(argument: str, kept: int) -> None:
    tracer, exported = tracer_with(
        {"OTEL_TRACES_SAMPLER": "microsoft.fixed_percentage", "OTEL_TRACES_SAMPLER_ARG": argument}
    )
    for _ in range(20):
        tracer.start_span("span").end()
    assert len(exported.get_finished_spans()) == kept


def test_the_sdks_own_names_are_left_to_the_sdk_and_every_trace_is_the_default() -> None:
    assert sampling.from_environ({}) == (None, "every trace")
    sampler, said = sampling.from_environ({"OTEL_TRACES_SAMPLER": "parentbased_traceidratio"})
    assert sampler is None and said == "OTEL_TRACES_SAMPLER=parentbased_traceidratio"
    assert sampling.from_environ(sampling.AZURE_DEFAULT)[1] == "at most 5 traces/s"
    fixed = {"OTEL_TRACES_SAMPLER": "microsoft.fixed_percentage", "OTEL_TRACES_SAMPLER_ARG": "0.005"}
    assert sampling.from_environ(fixed)[1] == "0.5% of traces"


@pytest.mark.parametrize(
    ("name", "argument"),
    [("microsoft.rate_limited", "-1"), ("microsoft.rate_limited", "five"), ("microsoft.fixed_percentage", "1.5")],
)
def test_a_bad_argument_stops_devhost_with_a_clear_error(name: str, argument: str) -> None:
    with pytest.raises(
        SystemExit, match=f"OTEL_TRACES_SAMPLER_ARG must be a number (0 or more|from 0 to 1).*not '{argument}'"
    ):
        sampling.from_environ({"OTEL_TRACES_SAMPLER": name, "OTEL_TRACES_SAMPLER_ARG": argument})


def test_devhost_with_the_deployed_sampler_keeps_at_most_its_rate(tmp_path: Any) -> None:
    """Through devhost with the templates' setting: a burst of calls leaves at most 5 traces plus 5 a second."""
    env = {"DEVHOST_STATE_DIR": str(tmp_path), "AZURE_TENANT_ID": "", "OTEL_TRACES_EXPORTER": "console"}
    calls = 40
    with start_devhost(env | sampling.AZURE_DEFAULT, "--auth", "local") as host:
        headers = {"Authorization": f"Bearer {host.mint()}", "Accept": MCP_ACCEPT}
        message = mcp_request("tools/call", {"name": "add", "arguments": {"a": 1, "b": 2}})
        started = time.monotonic()
        for _ in range(calls):
            assert httpx2.post(host.mcp_url, json=message, headers=headers, timeout=30).status_code == 200
        elapsed = time.monotonic() - started
    output = host.output()
    assert "traces to console (at most 5 traces/s)" in output
    kept = output.count('"name": "tools/call add"')
    assert 1 <= kept <= 5 + 5 * elapsed + 1
    assert kept < calls, f"{calls} calls in {elapsed:.1f} s all kept: no sampling"
    assert output.count('"name": "POST /mcp"') == kept  # whole traces, never half of one

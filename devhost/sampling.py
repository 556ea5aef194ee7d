"""Trace sampling as Azure Monitor's distro reads it, so one setting means the same under devhost and in Azure.

In Azure the Functions worker configures `azure-monitor-opentelemetry`, whose default since 1.8.6 keeps at
most 5 traces per second (`microsoft.rate_limited`); infra/modules/function-app.bicep sets that explicitly
(AZURE_DEFAULT below), so the deployment does not depend on the distro's version. The distro also takes
`microsoft.fixed_percentage` and the SDK's standard names (`always_on`, `parentbased_traceidratio`, ...).
The SDK alone knows only the standard names: given a `microsoft.*` one it warns and keeps every trace. So
devhost builds those two here and leaves every other value (or none: every trace) to the SDK.

The distro's own samplers are not imported: `azure.monitor.opentelemetry` loads the whole distro (about
0.8 s of imports here), which would sit on devhost's start. These follow the distro's rules, not its
arithmetic: a span with a local parent takes its parent's decision; a root span, or one whose parent came
from another process, is decided here (the distro ignores a remote parent's flag too).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind, TraceState, get_current_span
from opentelemetry.util.types import Attributes

RATE_LIMITED = "microsoft.rate_limited"
FIXED_PERCENTAGE = "microsoft.fixed_percentage"
# What infra/modules/function-app.bicep deploys (tests/test_infra.py holds them equal), which is also the
# distro's default: make bench's "telemetry on" runs with it.
AZURE_DEFAULT = {"OTEL_TRACES_SAMPLER": RATE_LIMITED, "OTEL_TRACES_SAMPLER_ARG": "5"}


class TracesPerSecond(Sampler):
    """At most `rate` new traces a second, in bursts of up to `max(rate, 1)`: a token bucket."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._capacity = max(rate, 1.0) if rate > 0 else 0.0  # none at all at 0, as the distro does
        self._tokens = self._capacity
        self._clock = clock
        self._last = clock()
        self._lock = threading.Lock()

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        with self._lock:
            now = self._clock()
            self._tokens = min(self._capacity, self._tokens + (now - self._last) * self.rate)
            self._last = now
            keep = self._tokens >= 1.0
            if keep:
                self._tokens -= 1.0
        parent = get_current_span(parent_context).get_span_context()
        return SamplingResult(
            Decision.RECORD_AND_SAMPLE if keep else Decision.DROP,
            attributes,  # the SDK gives a kept span the attributes of this result, not its own
            parent.trace_state if parent.is_valid else None,
        )

    def get_description(self) -> str:
        return f"TracesPerSecond{{{self.rate}}}"


def _deciding(root: Sampler) -> Sampler:
    """`root` for root spans and remote parents alike; local parents' decisions are followed."""
    return ParentBased(root=root, remote_parent_sampled=root, remote_parent_not_sampled=root)


def from_environ(environ: Mapping[str, str]) -> tuple[Sampler | None, str]:
    """The sampler for OTEL_TRACES_SAMPLER(_ARG), or None where the SDK reads them itself; and a few words
    for devhost's banner."""
    name = environ.get("OTEL_TRACES_SAMPLER", "").strip().lower()
    argument = environ.get("OTEL_TRACES_SAMPLER_ARG", "").strip()
    if name == RATE_LIMITED:
        rate = _number(argument, default=5.0, low=0.0, high=math.inf)
        return _deciding(TracesPerSecond(rate)), f"at most {rate:g} traces/s"
    if name == FIXED_PERCENTAGE:
        ratio = _number(argument, default=1.0, low=0.0, high=1.0)
        return _deciding(TraceIdRatioBased(ratio)), f"{ratio * 100:g}% of traces"
    return None, (f"OTEL_TRACES_SAMPLER={name}" if name else "every trace")


def _number(text: str, default: float, low: float, high: float) -> float:
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not low <= value <= high:
        wanted = "0 or more (traces a second)" if high == math.inf else f"from {low:g} to {high:g}"
        raise SystemExit(f"devhost: OTEL_TRACES_SAMPLER_ARG must be a number {wanted}, not {text!r}")
    return value

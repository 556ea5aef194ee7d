"""devhost's OpenTelemetry SDK, set up from the standard OTEL_* variables, as the Functions worker does in Azure.

    OTEL_TRACES_EXPORTER / OTEL_METRICS_EXPORTER / OTEL_LOGS_EXPORTER = otlp | console | none
    OTEL_EXPORTER_OTLP_ENDPOINT (e.g. http://127.0.0.1:6006 for Arize Phoenix), OTEL_SERVICE_NAME
    OTEL_TRACES_SAMPLER(_ARG): the SDK's names, and Azure Monitor's `microsoft.rate_limited` and
    `microsoft.fixed_percentage` (devhost/sampling.py); unset, every trace is kept

With only OTEL_EXPORTER_OTLP_ENDPOINT set, all three go over OTLP/HTTP. Needs the dev requirements
(opentelemetry-sdk and the OTLP/HTTP exporter); the app itself needs neither.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any


def exporters(environ: Mapping[str, str]) -> dict[str, str]:
    """Signal -> exporter name, for every signal that has one."""
    default = "otlp" if environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") else "none"
    chosen = {
        signal: environ.get(f"OTEL_{signal.upper()}_EXPORTER", default).strip().lower()
        for signal in ("traces", "metrics", "logs")
    }
    unknown = {name for name in chosen.values() if name not in ("otlp", "console", "none")}
    if unknown:
        raise SystemExit(f"devhost: OTEL_*_EXPORTER must be otlp, console or none, not {', '.join(sorted(unknown))}")
    return {signal: name for signal, name in chosen.items() if name != "none"}


def configure(environ: Mapping[str, str]) -> str | None:
    """Install the SDK's providers for the chosen exporters; a line for the banner, or None when off."""
    chosen = exporters(environ)
    if not chosen:
        return None
    try:
        from opentelemetry import metrics, trace
        from opentelemetry._logs import set_logger_provider
        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
    except ImportError:
        raise SystemExit(
            "devhost: OTEL_* asks for telemetry: install the dev requirements (opentelemetry-sdk)"
        ) from None
    from devhost import sampling

    resource = Resource.create({"service.name": environ.get("OTEL_SERVICE_NAME") or "azure-functions-mcp"})
    described = dict(chosen)
    if "traces" in chosen:
        sampler, kept = sampling.from_environ(environ)
        provider = TracerProvider(resource=resource, sampler=sampler)
        provider.add_span_processor(_span_processor(chosen["traces"], environ))
        trace.set_tracer_provider(provider)
        described["traces"] += f" ({kept})"
    if "metrics" in chosen:
        from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter

        # No exemplars: a sample of trace ids per histogram bucket, taken on every record, is most of a
        # record's cost, and the traces themselves are exported anyway.
        reader = _metric_reader(chosen["metrics"], environ)
        metrics.set_meter_provider(
            MeterProvider(resource=resource, metric_readers=[reader], exemplar_filter=AlwaysOffExemplarFilter())
        )
    if "logs" in chosen:
        logs = LoggerProvider(resource=resource)
        logs.add_log_record_processor(_log_processor(chosen["logs"]))
        set_logger_provider(logs)
        handler = FirstRecord(logs, level=logging.INFO)
        # The app's own records (the refused-token line); the SDK's per-request INFO stays out (server.py).
        for name in ("shared", "function_app"):
            logging.getLogger(name).addHandler(handler)
            logging.getLogger(name).setLevel(logging.INFO)
    return "Telemetry: " + ", ".join(f"{signal} to {name}" for signal, name in described.items())


class Deferred:
    """An OTLP exporter built at its first use, on the processor's own thread, not at start-up.

    The OTLP/HTTP exporters bring `requests` and the protobuf encoders (about 115 ms of imports here): built
    eagerly they sit on the cold path of the first request; built here they load on the first export,
    after the first answer (a full batch or 5 s for spans, the export interval for metrics)."""

    def __init__(self, build: Callable[[], Any]) -> None:
        self._build = build
        self._real: Any = None
        self._lock = threading.Lock()

    def _exporter(self) -> Any:
        with self._lock:
            if self._real is None:
                self._real = self._build()
            return self._real

    def export(self, *args: Any, **kwargs: Any) -> Any:
        return self._exporter().export(*args, **kwargs)

    def force_flush(self, *args: Any, **kwargs: Any) -> Any:
        return self._real.force_flush(*args, **kwargs) if self._real is not None else True

    def shutdown(self, *args: Any, **kwargs: Any) -> None:
        if self._real is not None:
            self._real.shutdown(*args, **kwargs)


class FirstRecord(logging.Handler):
    """OpenTelemetry's log handler (opentelemetry-instrumentation-logging's; the SDK's own is deprecated),
    built at the first record. Its package loads about 65 ms of imports (wrapt, the instrumentor
    machinery), and the app logs only refused tokens: none on the way to a first answer."""

    def __init__(self, provider: Any, level: int) -> None:
        super().__init__(level=level)
        self._provider = provider
        self._real: logging.Handler | None = None

    def emit(self, record: logging.LogRecord) -> None:
        if self._real is None:  # `handle` holds this handler's lock: one build
            from opentelemetry.instrumentation.logging.handler import LoggingHandler

            self._real = LoggingHandler(level=self.level, logger_provider=self._provider)
        self._real.emit(record)


def _span_processor(name: str, environ: Mapping[str, str]) -> Any:
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor

    if name == "console":
        return SimpleSpanProcessor(ConsoleSpanExporter(out=sys.stdout))

    def build() -> Any:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()

    # Batches of 128 spans rather than the SDK's 512: encoding a batch holds it again as protobuf messages
    # and bytes, and at 512 that peak is about 3 MiB of the process's resident memory (bench/telemetry.py);
    # the cost is four times as many posts, a dozen a second under full load. The variable overrides it.
    batch = None if environ.get("OTEL_BSP_MAX_EXPORT_BATCH_SIZE") else 128
    return BatchSpanProcessor(Deferred(build), max_export_batch_size=batch)


# Where these are set, the OTLP metric exporter's own choice of temporality and histogram aggregation is
# needed when the reader is made, so it is built then; otherwise the reader's defaults are the same.
_METRIC_PREFERENCES = (
    "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE",
    "OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION",
)


def _metric_reader(name: str, environ: Mapping[str, str]) -> Any:
    from opentelemetry.sdk.metrics.export import ConsoleMetricExporter, MetricExporter, PeriodicExportingMetricReader

    if name == "console":
        return PeriodicExportingMetricReader(ConsoleMetricExporter(out=sys.stdout))

    def build() -> Any:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter

        return OTLPMetricExporter()

    if any(environ.get(variable) for variable in _METRIC_PREFERENCES):
        return PeriodicExportingMetricReader(build())

    class DeferredMetricExporter(Deferred, MetricExporter):
        def __init__(self) -> None:
            Deferred.__init__(self, build)
            MetricExporter.__init__(self)

    return PeriodicExportingMetricReader(DeferredMetricExporter())


def _log_processor(name: str) -> Any:
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor, ConsoleLogExporter, SimpleLogRecordProcessor

    if name == "console":
        return SimpleLogRecordProcessor(ConsoleLogExporter(out=sys.stdout))

    def build() -> Any:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

        return OTLPLogExporter()

    return BatchLogRecordProcessor(Deferred(build))

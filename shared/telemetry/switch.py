"""Whether telemetry is on: decided once per process from the environment, settable for tests."""

from __future__ import annotations

import os
from collections.abc import Mapping

# Set where an OpenTelemetry SDK will collect: the Functions worker's two modes, or the standard
# exporter variables devhost reads (shared/telemetry/__init__.py).
SWITCHES = (
    "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY",
    "PYTHON_ENABLE_OPENTELEMETRY",
    "OTEL_TRACES_EXPORTER",
    "OTEL_METRICS_EXPORTER",
    "OTEL_LOGS_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
)
_OFF = {"", "false", "0", "none", "no", "off"}

_enabled: bool | None = None


def configured(environ: Mapping[str, str]) -> bool:
    return any(environ.get(name, "").strip().lower() not in _OFF for name in SWITCHES)


def enabled() -> bool:
    global _enabled
    if _enabled is None:
        _enabled = configured(os.environ)
    return _enabled


def set_enabled(value: bool | None) -> None:
    """On or off regardless of the environment (tests, devhost); None reads the environment again."""
    global _enabled
    _enabled = value

"""Telemetry: OpenTelemetry traces, metrics and logs of token validation, key fetches and MCP calls.

Sits at the bottom beside `shared.settings`: the layers above call into it, it imports none of them,
only `opentelemetry-api`. The app never configures an SDK or an exporter: in Azure the Functions
worker does (PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY), locally devhost does from the standard
OTEL_* variables. Until one of those says telemetry is on, nothing here imports OpenTelemetry, so
`/health` and the cold start pay nothing. Nothing recorded ever holds a token, a signature, a display
name or an email; tenant ids are metric attributes only with TELEMETRY_TENANT_ATTRIBUTE=true.
"""

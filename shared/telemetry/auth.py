"""Token validation, signing-key fetches and 503s: metrics, spans, and one log record per refused token.

The log record is written whether or not telemetry is on (it is the operator's only line about a
refusal); the metrics and spans only when it is. A record names the refusal's reason and what the
token's header and payload claim (kid, alg, aud, tid, azp), each value checked to be a short plain
identifier first: never the token, its signature, a name or an email.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import json
import logging
import re
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import Any

from shared.telemetry.switch import enabled
from shared.telemetry.trace_context import NAME, tracer

log = logging.getLogger("shared.auth.refused")

REASONS = (
    "missing",
    "malformed",
    "expired",
    "not_yet_valid",
    "audience",
    "issuer",
    "tenant",
    "signature",
    "unknown_key",
    "scope",
    "role",
    "keys_unavailable",
)
_LEVELS = {"expired": logging.INFO, "missing": logging.INFO, "keys_unavailable": logging.ERROR}
_PLAIN = re.compile(r"[A-Za-z0-9._:/-]{1,128}")


@functools.cache
def _instruments() -> dict[str, Any]:
    from opentelemetry import metrics

    meter = metrics.get_meter(NAME)
    # Observed at collection, not added per request: a synchronous counter's `add` (attribute hashing, a
    # measurement object, a lock per point) costs about ten microseconds, paid by every accepted request.
    meter.create_observable_counter(
        "app.auth.token.validations",
        callbacks=[_observe_validations],
        unit="{validation}",
        description="Tokens checked, by result and reason.",
    )
    return {
        "fetches": meter.create_histogram(
            "app.auth.keys.fetch.duration", unit="s", description="Signing-key fetches, by trigger and outcome."
        ),
        "unavailable": meter.create_counter(
            "app.http.server.unavailable", unit="{response}", description="503 answers, by reason."
        ),
    }


# Validations so far, by their attributes (pairs, always built in the same order); the lock keeps counts exact when
# sync functions validate on the worker's threads.
_validations: dict[tuple[tuple[str, str], ...], int] = {}
_validations_lock = threading.Lock()


def _count_validation(attributes: tuple[tuple[str, str], ...]) -> None:
    _instruments()
    with _validations_lock:
        _validations[attributes] = _validations.get(attributes, 0) + 1


def _observe_validations(options: Any) -> list[Any]:
    from opentelemetry.metrics import Observation

    with _validations_lock:
        counts = list(_validations.items())
    return [Observation(count, dict(attributes)) for attributes, count in counts]


def claims_of(token: str | None) -> dict[str, str]:
    """kid, alg, aud, tid and azp as the token claims them (unverified), each a plain identifier or left out."""
    found: dict[str, str] = {}
    parts = (token or "").split(".")
    if len(parts) != 3:
        return found
    for segment, names in ((parts[0], ("kid", "alg")), (parts[1], ("aud", "tid", "azp", "appid"))):
        try:
            decoded = json.loads(base64.urlsafe_b64decode(segment[:8192] + "=" * (-len(segment) % 4)))
        except (ValueError, TypeError):
            continue
        if isinstance(decoded, dict):
            for name in names:
                value = decoded.get(name)
                if isinstance(value, str) and _PLAIN.fullmatch(value):
                    found["azp" if name == "appid" else name] = value
    return found


def refused(reason: str, status: int, token: str | None, *, tenant_attribute: bool = False) -> None:
    """A refused token (or none at all): one log record, and a point of `app.auth.token.validations`."""
    seen = claims_of(token)
    fields = {f"auth.token.{name}": value for name, value in seen.items()}
    log.log(
        _LEVELS.get(reason, logging.WARNING),
        "Refused a request's token: %s (HTTP %d)",
        reason,
        status,
        extra={"auth.reason": reason, "http.response.status_code": status, **fields},
    )
    if enabled():
        tenant = (("azure.tenant.id", seen["tid"]),) if tenant_attribute and "tid" in seen else ()
        _count_validation((("auth.result", "refused"), *tenant, ("error.type", reason)))


def accepted(tenant: str, *, tenant_attribute: bool = False) -> None:
    if enabled():
        _count_validation((("auth.result", "accepted"), *((("azure.tenant.id", tenant),) if tenant_attribute else ())))


_NOTHING = contextlib.nullcontext()


def validating() -> contextlib.AbstractContextManager[Any]:
    """A span around one validation: a child of the request's, with the key fetches it makes beneath it.

    Off, a shared no-op: a validation takes tens of microseconds, and a generator-based context manager
    would add one of them (bench/validation.py). On, it runs for first-seen tokens only."""
    if not enabled():
        return _NOTHING
    return _validation_span()


@contextlib.contextmanager
def _validation_span() -> Iterator[None]:
    """A refusal is the span's `error.type` (the reason, as in the metric), not an exception event: the
    SDK's event carries a stack trace and the messages of every chained exception (PyJWT's, the base64
    and JSON decoders'), for each token anyone sends. As for the MCP span, a refused token is the caller's
    mistake and leaves the status unset; keys that cannot be fetched, or anything unexpected, are ERROR."""
    with tracer().start_as_current_span(
        "validate token", record_exception=False, set_status_on_exception=False
    ) as span:
        try:
            yield
        except BaseException as exc:
            reason = getattr(exc, "reason", None)
            span.set_attribute("error.type", reason if isinstance(reason, str) else type(exc).__qualname__)
            if reason in (None, "keys_unavailable"):
                from opentelemetry.trace import StatusCode

                span.set_status(StatusCode.ERROR)
            raise


@contextlib.contextmanager
def key_fetch(trigger: str) -> Iterator[None]:
    """One fetch of the discovery documents and keys (trigger: first, scheduled or unknown_kid): its span,
    and its duration by trigger and outcome."""
    if not enabled():
        yield
        return
    tools = _instruments()
    start, outcome = time.perf_counter(), "failure"
    with tracer().start_as_current_span("fetch signing keys", attributes={"app.auth.keys.trigger": trigger}) as span:
        try:
            yield
            outcome = "success"
        finally:
            span.set_attribute("app.auth.keys.outcome", outcome)
            attributes = {"app.auth.keys.trigger": trigger, "app.auth.keys.outcome": outcome}
            tools["fetches"].record(time.perf_counter() - start, attributes)


_ages: weakref.WeakSet[Any] = weakref.WeakSet()
_gauge: list[object] = []


def watch_key_age(owner: Any, age: Callable[[], float | None]) -> None:
    """Report `age()` (seconds since the keys were fetched) as `app.auth.keys.age` while `owner` lives."""
    if not enabled():
        return
    owner._telemetry_key_age = age
    if not _gauge:
        from opentelemetry.metrics import CallbackOptions, Observation, get_meter

        def observe(options: CallbackOptions) -> list[Observation]:
            ages = [a for a in (getattr(o, "_telemetry_key_age", lambda: None)() for o in list(_ages)) if a is not None]
            return [Observation(age) for age in ages]

        _gauge.append(
            get_meter(NAME).create_observable_gauge(
                "app.auth.keys.age", callbacks=[observe], unit="s", description="Age of the signing keys in use."
            )
        )
    _ages.add(owner)


def unavailable(reason: str) -> None:
    """A 503 answered: the server could not check (keys unavailable) or is misconfigured."""
    if enabled():
        _instruments()["unavailable"].add(1, {"error.type": reason})

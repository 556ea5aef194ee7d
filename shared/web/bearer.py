"""Who is calling: a request's bearer token checked and the caller authorized, or the answer to send."""

from __future__ import annotations

import logging

import azure.functions as func

from shared.auth.identity import DEVELOPER, Principal
from shared.runtime import Runtime
from shared.telemetry import auth as telemetry
from shared.web import responses

log = logging.getLogger(__name__)


def bearer_token(req: func.HttpRequest) -> str | None:
    """The token of an `Authorization: Bearer` header (scheme case-insensitive); '' when there is none in it."""
    header = req.headers.get("Authorization")
    if header is None or not header.strip():
        return None
    scheme, _, token = header.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


async def authenticate(req: func.HttpRequest, runtime: Runtime) -> Principal | func.HttpResponse:
    settings = runtime.settings
    if settings.problems:
        return responses.misconfigured(settings.problems)
    if not settings.auth_enabled:
        return DEVELOPER
    token = bearer_token(req)
    tenants = settings.telemetry_tenant_attribute
    if token is None:
        telemetry.refused("missing", 401, None)
        # Tokens in URLs end up in logs and browser history: they are never read, only refused.
        if "access_token" in req.params:
            return responses.unauthorized(req, settings, "Tokens in the URL are refused; use the Authorization header.")
        return responses.unauthorized(req, settings, None)
    if not token:
        telemetry.refused("malformed", 401, None)
        return responses.unauthorized(req, settings, "The Authorization header must carry a Bearer token.")

    validator = runtime.validator  # imports PyJWT and cryptography on the first call (see runtime.py)
    from shared.auth.tokens import InsufficientPermission, InvalidToken, KeysUnavailable, authorize

    try:
        principal = await validator.validate(token)
        authorize(principal, settings)
    except InvalidToken as exc:
        telemetry.refused(exc.reason, 401, token, tenant_attribute=tenants)
        return responses.unauthorized(req, settings, _sentence(exc))
    except InsufficientPermission as exc:
        telemetry.refused("role" if exc.kind == "app" else "scope", 403, token, tenant_attribute=tenants)
        return responses.forbidden(req, settings, _sentence(exc), app=exc.kind == "app")
    except KeysUnavailable as exc:
        telemetry.refused(exc.reason, 503, token, tenant_attribute=tenants)
        log.error("Cannot validate tokens: %s", exc)
        return responses.unavailable(
            "The server cannot reach Microsoft Entra ID to check tokens right now; retry shortly.",
            exc.retry_after,
            reason=exc.reason,
        )
    telemetry.accepted(principal.tid, tenant_attribute=tenants)
    return principal


def _sentence(exc: Exception) -> str:
    text = str(exc)
    return f"{text[:1].upper()}{text[1:]}."

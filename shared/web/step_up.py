"""A `tools/call` the caller may not make yet, answered before the SDK runs anything: the MCP step-up
challenge (403 `insufficient_scope` with every scope the call needs), or 400 when `Mcp-Name` and the
body name different tools."""

from __future__ import annotations

import azure.functions as func

from shared.auth.identity import Principal
from shared.mcp.permissions import Mismatch, Refusal, ToolPolicy
from shared.settings import Settings
from shared.telemetry import auth as telemetry
from shared.web import responses


def step_up(
    req: func.HttpRequest, settings: Settings, policy: ToolPolicy, caller: Principal
) -> func.HttpResponse | None:
    verdict = policy.check(req.get_body() or b"", req.headers, caller)
    if verdict is None:
        return None
    if isinstance(verdict, Mismatch):
        error = {"code": verdict.code, "message": verdict.message}
        return responses.json_response({"jsonrpc": "2.0", "id": verdict.request_id, "error": error}, 400)
    return _refused(req, settings, policy, caller, verdict)


def _refused(
    req: func.HttpRequest, settings: Settings, policy: ToolPolicy, caller: Principal, refusal: Refusal
) -> func.HttpResponse:
    lacking, tool = refusal.lacking, refusal.tool
    token = req.headers.get("Authorization", "").partition(" ")[2].strip() or None
    reason = "role" if lacking.roles else "scope"
    telemetry.refused(reason, 403, token, tenant_attribute=settings.telemetry_tenant_attribute)
    if lacking.closed and lacking.kind == "app":
        description = (
            f"The {tool} tool is for signed-in users (delegated scopes: {' '.join(lacking.scopes)}); "
            "an app-only token cannot call it."
        )
        return responses.forbidden(req, settings, description, app=True)
    if lacking.closed:
        description = (
            f"The {tool} tool is for apps with the app roles {' '.join(lacking.roles)}; a user cannot call it."
        )
        return responses.forbidden(req, settings, description, scopes=_held(settings, policy, caller))
    if lacking.kind == "app":
        description = (
            f"The {tool} tool needs the app roles {' '.join(refusal.needs.roles)}; this app lacks "
            f"{' '.join(lacking.roles)}. An administrator assigns app roles to the app's service principal."
        )
        return responses.forbidden(req, settings, description, app=True)
    # Every scope the operation needs, in one challenge (MCP 2026-07-28): the server-wide one the
    # caller signed in with, and all of the tool's, so one new sign-in is enough.
    needed = [*_held(settings, policy, caller), *policy.qualified(refusal.needs.scopes)]
    description = (
        f"The {tool} tool needs the delegated scopes {' '.join(refusal.needs.scopes)}; the token lacks "
        f"{' '.join(lacking.scopes)}. Sign in again asking for: {' '.join(needed)}."
    )
    return responses.forbidden(req, settings, description, scopes=list(dict.fromkeys(needed)))


def _held(settings: Settings, policy: ToolPolicy, caller: Principal) -> list[str]:
    """The server-wide scopes the caller holds (at least one, or they would not be here), fully qualified."""
    held = [scope for scope in settings.required_scopes if scope in caller.scopes]
    return policy.qualified(held or settings.required_scopes)

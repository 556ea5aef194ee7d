"""`GET /me?graph=true`, and how a `GraphError` is answered over HTTP (the tool answers it as a tool error)."""

from __future__ import annotations

import azure.functions as func

from shared.auth.identity import Principal
from shared.graph.errors import GraphError
from shared.graph.profile import fetch_profile
from shared.settings import Settings
from shared.web import responses
from shared.web.bearer import bearer_token


async def me_with_graph(req: func.HttpRequest, settings: Settings, caller: Principal) -> func.HttpResponse:
    """The caller as their token describes them, and their Graph profile under `graph`."""
    try:
        profile = await fetch_profile(settings, caller, bearer_token(req) or None)
    except GraphError as exc:
        return graph_error_response(exc, req, settings)
    return responses.json_response({**caller.to_dict(), "graph": profile})


def graph_error_response(exc: GraphError, req: func.HttpRequest, settings: Settings) -> func.HttpResponse:
    if exc.status == 401:
        return responses.unauthorized(req, settings, exc.description)
    headers: dict[str, str] = {}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(exc.retry_after)
    if exc.claims is not None:
        headers["WWW-Authenticate"] = responses.bearer_challenge(
            [
                ("realm", ""),
                ("authorization_uri", f"{settings.authority}/oauth2/v2.0/authorize"),
                ("error", "insufficient_claims"),
                ("error_description", exc.description),
                ("claims", exc.claims),
                ("resource_metadata", responses.metadata_url(req)),
            ]
        )
    return responses.error_response(exc.status, exc.error, exc.description, headers)

"""RFC 9728 protected-resource metadata: where MCP clients learn how to get a token for us."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shared.settings import Settings


def protected_resource_metadata(
    settings: Settings, resource: str, scopes: Sequence[str] | None = None, issuer: str | None = None
) -> dict[str, Any]:
    """The metadata of `resource` (the URL the client used, minus the well-known prefix).

    `scopes` (fully qualified): every scope a client may need; by default the server-wide ones.

    `authorization_servers` is the tenant's v2 issuer (Entra serves its OpenID configuration
    under it); for multi-tenant apps it is the `organizations` one. Scopes are fully qualified,
    since a bare `user_impersonation` means nothing to Entra. With OAUTH_PROXY=true the app itself is
    the authorization server clients use (`issuer`, its base URL; shared/facade), Entra behind it.
    """
    return {
        "resource": resource,
        "authorization_servers": [issuer if settings.oauth_proxy and issuer else f"{settings.authority}/v2.0"],
        "scopes_supported": list(dict.fromkeys(settings.qualified_scopes if scopes is None else scopes)),
        "bearer_methods_supported": ["header"],
        "resource_name": "Azure Functions MCP server",
    }

"""Where the client connects and how it signs in: command-line flags first, then the environment.

The environment variables are the server's own (AZURE_TENANT_ID, AZURE_CLIENT_ID, ...), so one
`.env` or `local.settings.json` serves both sides when one app registration both exposes the API
and calls it, as in the seed. When the caller is another app, `--api-client-id` (or --scope)
names the API.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from client.errors import EXIT_USAGE, Failure

DEFAULT_URL = "http://127.0.0.1:7071/mcp"
PRM_PATH = "/.well-known/oauth-protected-resource"

# The flows that sign in as an app registration of your own, whose id is --client-id / AZURE_CLIENT_ID.
APP_REGISTRATION_FLOWS = frozenset({"client-secret", "interactive", "device-code"})
# The flows that sign in as a managed identity (or may, for `default`): AZURE_CLIENT_ID names the API
# there, so a user-assigned identity comes from --client-id or the server's MANAGED_IDENTITY_CLIENT_ID.
IDENTITY_FLOWS = frozenset({"managed-identity", "default"})
ERAS = ("auto", "legacy", "2026-07-28")
FLOWS = ("client-secret", "interactive", "device-code", "azure-cli", "managed-identity", "default")


@dataclass(frozen=True)
class Target:
    """The MCP endpoint and the routes beside it."""

    mcp_url: str

    @property
    def base_url(self) -> str:
        """The MCP URL minus its last path segment: /mcp -> '', /api/mcp -> /api (a route prefix)."""
        parts = urlsplit(self.mcp_url)
        parent = parts.path.rstrip("/").rsplit("/", 1)[0]
        return urlunsplit((parts.scheme, parts.netloc, parent, "", ""))

    def route(self, name: str) -> str:
        return f"{self.base_url}/{name}"

    @property
    def metadata_url(self) -> str:
        """RFC 9728: the well-known prefix goes between the host and the resource's path."""
        parts = urlsplit(self.mcp_url)
        return urlunsplit((parts.scheme, parts.netloc, PRM_PATH + parts.path.rstrip("/"), "", ""))


@dataclass(frozen=True)
class AuthOptions:
    """How to get a token; `flow` None means a raw token (or none at all)."""

    flow: str | None
    token: str | None = field(default=None, repr=False)
    tenant_id: str | None = None
    # The identity that signs in: an app registration, or a user-assigned managed identity.
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    # The API (the server's app registration) whose scope is requested.
    api_client_id: str | None = None
    scope: str | None = None
    # azure-identity's own AZURE_AUTHORITY_HOST: another cloud, or devhost's local authority (its https alias).
    authority_host: str | None = None


def target_from(args: argparse.Namespace, env: Mapping[str, str]) -> Target:
    url = args.url or env.get("MCP_URL") or DEFAULT_URL
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise Failure(f"--url must be an http(s) URL such as {DEFAULT_URL}, not {url!r}", EXIT_USAGE)
    return Target(url)


def auth_from(args: argparse.Namespace, env: Mapping[str, str]) -> AuthOptions:
    flow: str | None = args.auth
    if flow is None:
        # A raw token: the flag, else MCP_TOKEN; no token at all is allowed (an auth-off server).
        return AuthOptions(flow=None, token=args.token or env.get("MCP_TOKEN") or None)

    def pick(flag: str | None, name: str) -> str | None:
        return flag or env.get(name) or None

    if flow in IDENTITY_FLOWS:
        client_id = pick(args.client_id, "MANAGED_IDENTITY_CLIENT_ID")
        api_client_id = pick(args.api_client_id, "MCP_API_CLIENT_ID") or env.get("AZURE_CLIENT_ID") or None
    elif flow in APP_REGISTRATION_FLOWS:
        client_id = pick(args.client_id, "AZURE_CLIENT_ID")
        # One app registration both exposes the API and calls it unless told otherwise (the seed's setup).
        api_client_id = pick(args.api_client_id, "MCP_API_CLIENT_ID") or client_id
    else:  # azure-cli signs in as the Azure CLI's own app
        client_id = None
        api_client_id = pick(args.api_client_id, "MCP_API_CLIENT_ID") or env.get("AZURE_CLIENT_ID") or None
    return AuthOptions(
        flow=flow,
        tenant_id=pick(args.tenant, "AZURE_TENANT_ID"),
        client_id=client_id,
        client_secret=pick(args.client_secret, "AZURE_CLIENT_SECRET") if flow == "client-secret" else None,
        api_client_id=api_client_id,
        scope=pick(args.scope, "AZURE_SCOPE"),
        authority_host=env.get("AZURE_AUTHORITY_HOST") or None,
    )

"""The `scope` and `resource` parameters, read the way Entra's v2 endpoints read them.

A v2 scope is `<resource>/<name>`: `api://<client-id>/user_impersonation` asks for the API's
`user_impersonation`, `api://<client-id>/.default` for what was consented to statically. A bare name
(`User.Read`) means Microsoft Graph, which this authority does not stand in for. `openid`, `profile`,
`email` and `offline_access` ask for an ID token, its claims and a refresh token.
"""

from __future__ import annotations

from dataclasses import dataclass

from devhost.directory import DEFAULT_SCOPES, Directory
from devhost.oauth_errors import OAuthError, resource_mismatch

OIDC_SCOPES = frozenset({"openid", "profile", "email", "offline_access"})
GRAPH = "https://graph.microsoft.com"


@dataclass(frozen=True)
class Requested:
    api_scopes: tuple[str, ...]  # the API's scope names, as the API spells them
    oidc: frozenset[str]
    resource: str  # the resource as the client named it, to qualify scopes in the answer

    @property
    def qualified(self) -> str:
        return " ".join(f"{self.resource}/{name}" for name in self.api_scopes)


def parse_scopes(directory: Directory, raw: str, *, default_only: bool = False) -> Requested:
    """The API scopes and OIDC scopes asked for; refused as Entra refuses them.

    `default_only` is the client-credentials rule: nothing but `<resource>/.default`.
    """
    words = raw.split()
    oidc = frozenset(w for w in words if w in OIDC_SCOPES)
    names: list[str] = []
    resource: str | None = None
    for word in (w for w in words if w not in OIDC_SCOPES):
        target, _, name = word.rpartition("/")
        if not target or ("://" not in target and not _is_guid(target)):
            target, name = GRAPH, word
        if not directory.is_api_resource(target):
            raise OAuthError(
                "invalid_resource",
                500011,
                f"The resource principal named {target} was not found in the tenant named {directory.tenant}. This "
                "can happen if the application has not been installed by the administrator of the tenant or "
                "consented to by any user in the tenant. (This local authority issues tokens for one API only.)",
            )
        resource = resource or target
        if default_only and name != ".default":
            raise OAuthError(
                "invalid_scope",
                1002012,
                f"The provided value for scope {word} is not valid. Client credential flows must have a scope value "
                "with /.default suffixed to the resource identifier (application ID URI).",
            )
        if name == ".default":
            names.extend(DEFAULT_SCOPES)
            continue
        known = directory.api_scope(name)
        if known is None:
            raise OAuthError(
                "invalid_client",
                650053,
                f"The application asked for scope '{name}' that doesn't exist on the resource "
                f"'{directory.api_client_id}'. Contact the app vendor.",
            )
        names.append(known)
    if resource is None:
        raise OAuthError(
            "invalid_scope",
            70011,
            f"The provided value for the input parameter 'scope' is not valid. The scope '{raw}' names no resource "
            "this authority issues tokens for; ask for the API's scopes (api://<client-id>/user_impersonation).",
        )
    if default_only and (oidc - {"offline_access"} or len(names) != len(DEFAULT_SCOPES)):
        raise OAuthError("invalid_scope", 1002012, f"The provided value for scope {raw} is not valid.")
    return Requested(tuple(dict.fromkeys(names)), oidc, resource)


def check_resource(directory: Directory, resource: str | None) -> None:
    """RFC 8707's `resource`, when sent, must name the API the scopes are for (AADSTS9010010 otherwise)."""
    if resource is not None and not directory.is_api_resource(resource):
        raise resource_mismatch()


def _is_guid(value: str) -> bool:
    parts = value.split("-")
    return [len(p) for p in parts] == [8, 4, 4, 4, 12] and all(c in "0123456789abcdefABCDEF" for c in "".join(parts))

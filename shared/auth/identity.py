"""The caller, as a validated token describes them."""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from typing import Any, Literal


@dataclass(frozen=True)
class Principal:
    # `tid` + `oid` identify the caller; everything under "display" is for people to read, never for decisions.
    tid: str
    oid: str
    sub: str
    kind: Literal["user", "app"]
    client_app_id: str
    scopes: tuple[str, ...]
    roles: tuple[str, ...]
    token_version: str
    expires_at: int
    name: str | None = None
    preferred_username: str | None = None
    upn: str | None = None
    # True only for the fixed identity used when authentication is off.
    development: bool = False

    @property
    def key(self) -> str:
        return f"{self.tid}/{self.oid}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["scopes"], data["roles"] = list(self.scopes), list(self.roles)
        return {k: v for k, v in data.items() if v is not None}


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    """Build the caller from claims whose signature, issuer, audience and lifetime were already checked."""
    scp = claims.get("scp")
    roles = claims.get("roles")
    scopes = tuple(scp.split()) if isinstance(scp, str) else ()
    role_list = tuple(r for r in roles if isinstance(r, str)) if isinstance(roles, list) else ()
    # `idtyp=app` is the reliable marker; a token with roles and no scopes is app-only too.
    kind: Literal["user", "app"] = "app" if claims.get("idtyp") == "app" or (role_list and not scopes) else "user"

    def text(name: str) -> str | None:
        value = claims.get(name)
        return value if isinstance(value, str) else None

    return Principal(
        tid=str(claims["tid"]).lower(),
        oid=str(claims.get("oid", "")),
        sub=str(claims.get("sub", "")),
        kind=kind,
        client_app_id=str(claims.get("azp") or claims.get("appid") or ""),
        scopes=scopes if kind == "user" else (),
        roles=role_list,
        token_version=str(claims.get("ver", "")),
        expires_at=int(claims["exp"]),
        name=text("name"),
        preferred_username=text("preferred_username"),
        upn=text("upn"),
    )


DEVELOPER = Principal(
    tid="00000000-0000-0000-0000-000000000000",
    oid="00000000-0000-0000-0000-000000000001",
    sub="local-developer",
    kind="user",
    client_app_id="",
    scopes=(),
    roles=(),
    token_version="none",  # noqa: S106 - a version label, not a password
    expires_at=0,
    name="Local developer (authentication off)",
    development=True,
)

# Set by the MCP bridge for the duration of one request, so tools can see who calls them, and
# (on-behalf-of only) exchange the caller's token. The token is never logged or returned.
current_caller: ContextVar[Principal | None] = ContextVar("current_caller", default=None)
current_assertion: ContextVar[str | None] = ContextVar("current_assertion", default=None)

"""Per-tool authorization: what a validated caller lacks for an operation that needs more than the
server-wide permission (`tokens.authorize`), so the answer can name exactly what to ask for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from shared.auth.identity import Principal
from shared.settings import ToolPermission


@dataclass(frozen=True)
class Shortfall:
    """What the caller lacks. `closed`: the operation is not for this kind of caller at all
    (a users-only tool called with an app-only token, or the reverse): no consent can fix that."""

    kind: Literal["user", "app"]
    scopes: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    closed: bool = False


def shortfall(principal: Principal, needs: ToolPermission) -> Shortfall | None:
    """None when the caller may go ahead; else what they lack. The developer identity (auth off) lacks nothing."""
    if principal.development:
        return None
    if principal.kind == "user":
        if needs.roles and not needs.scopes:
            return Shortfall("user", roles=needs.roles, closed=True)
        missing = tuple(scope for scope in needs.scopes if scope not in principal.scopes)
        return Shortfall("user", scopes=missing) if missing else None
    if needs.scopes and not needs.roles:
        return Shortfall("app", scopes=needs.scopes, closed=True)
    lacking = tuple(role for role in needs.roles if role not in principal.roles)
    return Shortfall("app", roles=lacking) if lacking else None

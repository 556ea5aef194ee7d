"""Validation of Entra ID access tokens (v1 and v2, single- and multi-tenant), top to bottom.

`TokenValidator.validate` either returns the caller or raises `InvalidToken` (401) or
`KeysUnavailable` (503). Authorization (scopes and roles) is `authorize`, kept apart so a
valid token without the right permission can be told apart (403).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

from shared.auth.identity import Principal, principal_from_claims
from shared.auth.keys import MAX_KID_LENGTH, AuthorityKeys, AuthorityMetadata, FetchJson, KeysUnavailable
from shared.settings import GUID, Settings
from shared.telemetry import auth as telemetry

log = logging.getLogger(__name__)

# Entra tokens are 1-3 KB, and up to about 10 KB with 200 groups (beyond that Entra sends a
# group-overage claim instead). 16 KiB leaves room and still refuses absurd input before parsing.
MAX_TOKEN_LENGTH = 16 * 1024
ALGORITHM = "RS256"
TENANT_TEMPLATE = "{tenantid}"
# Base64url without padding. Only the header segment is checked here: PyJWT checks the alphabet of
# the whole token again (byte by byte, in Python), so a second full scan of ours would only cost time.
SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
RESULT_CACHE_SIZE = 4096
ACCEPTED_HEADERS = 64

__all__ = ["InsufficientPermission", "InvalidToken", "KeysUnavailable", "TokenValidator", "authorize"]


class InvalidToken(Exception):
    """The token is missing, malformed, forged, expired or not meant for us: 401.

    `reason` names the check that failed, for telemetry (shared/telemetry/auth.py REASONS).
    """

    def __init__(self, message: str, reason: str = "malformed") -> None:
        super().__init__(message)
        self.reason = reason


class InsufficientPermission(Exception):
    """The token is valid but carries none of the required scopes or roles: 403."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


@dataclass(frozen=True)
class _Accepted:
    principal: Principal
    kid: str
    # Entries never outlive the token: after `exp` the token is validated afresh (and refused).
    expires_at: float


class TokenValidator:
    def __init__(
        self,
        settings: Settings,
        *,
        fetch: FetchJson | None = None,
        clock: Callable[[], float] = time.time,
        keys: AuthorityKeys | None = None,
    ) -> None:
        self.settings = settings
        self._clock = clock
        self.keys = keys or AuthorityKeys(
            settings.authority,
            refresh=settings.jwks_refresh,
            min_refresh=settings.jwks_min_refresh,
            max_stale=settings.jwks_max_stale,
            timeout=settings.jwks_timeout,
            fetch=fetch,
        )
        self._accepted: dict[str, _Accepted] = {}
        self._decode_options: dict[str, Any] = {"require": ["exp", "iss", "aud", "tid"], "verify_iss": False}
        self._audiences = list(settings.audiences)
        # Header segments of tokens that validated, and their `kid`: only a properly signed token adds one.
        self._accepted_headers: dict[str, str] = {}
        # Expected issuers per allowed tenant, for the metadata they were derived from.
        self._issuers_of: AuthorityMetadata | None = None
        self._issuers: dict[str, tuple[str, str, frozenset[str]]] = {}

    async def validate(self, token: str) -> Principal:
        hit = self._accepted.get(token)
        if hit is not None:
            meta = self.keys.current
            if self._clock() < hit.expires_at and meta is not None and hit.kid in meta.keys:
                # A busy client may repeat one token for an hour: keep the keys fresh meanwhile,
                # so a key Entra withdraws stops its cached tokens within one refresh interval.
                self.keys.refresh_if_due()
                return hit.principal
            del self._accepted[token]
        # A span for the work only: a repeated token (the cache above) costs less than a span would.
        with telemetry.validating():
            principal, kid = await self._validate(token)
        self._remember(token, principal, kid)
        return principal

    async def _validate(self, token: str) -> tuple[Principal, str]:
        if len(token) > MAX_TOKEN_LENGTH:
            raise InvalidToken("the token is too large")
        segments = token.split(".")
        if len(segments) != 3 or not all(segments):
            raise InvalidToken("the token is not a JWT (three base64url segments)")
        # Entra signs every token of a key under the same header: one that passed before need not be parsed again.
        kid = self._accepted_headers.get(segments[0]) or _kid_of(segments[0])

        key = await self.keys.key(kid)
        if key is None:
            raise InvalidToken("the token is signed with a key this authority does not publish", "unknown_key")
        settings = self.settings
        try:
            claims = jwt.decode(
                token,
                key.public_key,
                algorithms=[ALGORITHM],
                audience=self._audiences,
                leeway=settings.clock_skew,
                options=self._decode_options,
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("the token has expired", "expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise InvalidToken("the token is not valid yet", "not_yet_valid") from exc
        except jwt.InvalidAudienceError as exc:
            raise InvalidToken("the token is meant for another audience", "audience") from exc
        except jwt.InvalidSignatureError as exc:
            raise InvalidToken("the token signature is invalid", "signature") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidToken(f"the token lacks the {exc.claim!r} claim") from exc
        except Exception as exc:  # PyJWT raises TypeError and friends on some hostile input
            raise InvalidToken("the token is malformed") from exc

        if not isinstance(claims, dict):
            raise InvalidToken("the token payload is not a JSON object")
        self._check_issuer(claims, key.issuer)
        if len(self._accepted_headers) >= ACCEPTED_HEADERS:
            self._accepted_headers.clear()
        self._accepted_headers[segments[0]] = kid
        return principal_from_claims(claims), kid

    def _check_issuer(self, claims: dict[str, Any], key_issuer: str | None) -> None:
        tid, iss, ver = claims.get("tid"), claims.get("iss"), claims.get("ver")
        if not isinstance(tid, str) or not GUID.fullmatch(tid):
            raise InvalidToken("the token's tenant id is not a GUID", "tenant")
        if tid.lower() not in self.settings.allowed_tenants:
            raise InvalidToken("the token was issued for a tenant this server does not accept", "tenant")
        meta = self.keys.current
        if meta is None:  # expired between fetching the key and now
            raise InvalidToken("the token cannot be checked against current keys", "unknown_key")
        v2, v1, accepted = self._expected_issuers(meta, tid)
        if iss not in accepted:
            raise InvalidToken("the token was issued by an issuer this server does not accept", "issuer")
        if (iss == v2 and ver != "2.0") or (iss == v1 and ver != "1.0") or ver not in ("1.0", "2.0"):
            raise InvalidToken("the token version does not match its issuer", "issuer")
        # A key published for one issuer signs for that issuer only. Keys are published in the v2
        # form; a v1 token is held to the v2 issuer of the same tenant.
        if key_issuer is not None and key_issuer.replace(TENANT_TEMPLATE, tid) != v2:
            raise InvalidToken("the signing key belongs to another issuer", "issuer")

    def _expected_issuers(self, meta: AuthorityMetadata, tid: str) -> tuple[str, str, frozenset[str]]:
        """The v2 and v1 issuers of tenant `tid`, and the issuers accepted for it (TOKEN_ISSUER or both)."""
        if meta is not self._issuers_of:
            self._issuers_of, self._issuers = meta, {}
        found = self._issuers.get(tid)
        if found is None:
            v2 = meta.issuer_v2.replace(TENANT_TEMPLATE, tid)
            v1 = meta.issuer_v1.replace(TENANT_TEMPLATE, tid)
            configured = self.settings.issuers
            accepted = frozenset(i.replace(TENANT_TEMPLATE, tid) for i in configured) if configured else {v2, v1}
            # Bounded: only tokens signed by the authority, of allowed tenants, get this far.
            found = self._issuers[tid] = (v2, v1, frozenset(accepted))
        return found

    def _remember(self, token: str, principal: Principal, kid: str) -> None:
        if len(self._accepted) >= RESULT_CACHE_SIZE:
            now = self._clock()
            for cached, entry in list(self._accepted.items()):
                if entry.expires_at <= now:
                    del self._accepted[cached]
            while len(self._accepted) >= RESULT_CACHE_SIZE:
                del self._accepted[next(iter(self._accepted))]
        self._accepted[token] = _Accepted(principal, kid, float(principal.expires_at))


def _kid_of(segment: str) -> str:
    """The `kid` of a JOSE header segment that passes our rules, or `InvalidToken`.

    Decoded here, not with `jwt.get_unverified_header`: that checks the base64url alphabet of every
    byte of the whole token, one by one in Python (about 50 µs for a 1 KB token, twice the RSA
    verification), which `jwt.decode` then does once more.
    """
    if not SEGMENT.fullmatch(segment):
        raise InvalidToken("the token is not a JWT (three base64url segments)")
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except Exception as exc:  # binascii.Error, JSONDecodeError, UnicodeDecodeError, RecursionError
        raise InvalidToken("the token header cannot be decoded") from exc
    if not isinstance(header, dict):
        raise InvalidToken("the token header cannot be decoded")
    # The algorithm is fixed here and never chosen by the token; `jku`, `x5u`, `jwk` and `x5c`
    # are never looked at, since keys come only from the configured authority.
    if header.get("alg") != ALGORITHM:
        raise InvalidToken(f"the token must be signed with {ALGORITHM}")
    if "crit" in header:
        raise InvalidToken("the token names critical header extensions this server does not support")
    kid = header.get("kid")
    if not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_LENGTH:
        raise InvalidToken("the token header has no usable key id")
    return kid


def authorize(principal: Principal, settings: Settings) -> None:
    """A delegated token needs one of the required scopes; an app-only token one of the roles."""
    if principal.development:
        return
    granted = principal.scopes if principal.kind == "user" else principal.roles
    required = settings.required_scopes if principal.kind == "user" else settings.required_roles
    if not set(granted) & set(required):
        what = "scopes" if principal.kind == "user" else "app roles"
        raise InsufficientPermission(
            f"the token carries none of the required {what}: {' '.join(required)}", principal.kind
        )
